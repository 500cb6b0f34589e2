// The console works without this file; it only adds confirmations, copy buttons and live progress.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) { event.preventDefault(); }
});
function copy(event) {
  if (event.type === "keyup" && event.key !== "Enter" && event.key !== " ") { return; }
  var button = event.target.closest("[data-copy]");
  if (!button) { return; }
  var text = button.getAttribute("data-copy");
  if (navigator.clipboard) {
    navigator.clipboard.writeText(text).then(function () { button.classList.add("copied"); });
  }
}
document.addEventListener("pointerup", copy);
document.addEventListener("keyup", copy);
document.addEventListener("DOMContentLoaded", function () {
  var live = document.querySelector("[data-refresh-seconds]");
  if (live) {
    var seconds = parseInt(live.getAttribute("data-refresh-seconds"), 10) || 3;
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
});
