"""A fake Click Merchant API: a real HTTP server on 127.0.0.1 that checks `Auth` and answers status and reversal.

The business error codes (`PAYMENT_NOT_FOUND`, `NOT_REVERSIBLE`) and the status of a reversed payment are the
fake's own: Click documents that failures have a non-zero `error_code` and a negative `payment_status`, not which.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUCCESSFUL = 2
REVERSED = -1
PAYMENT_NOT_FOUND = -16
NOT_REVERSIBLE = -17
AUTH_WINDOW_S = 300
_ROUTE = re.compile(r"/v2/merchant/payment/(status|reversal)/([0-9]+)/([0-9]+)")
SUBMIT_ITEMS = "/v2/merchant/payment/ofd_data/submit_items"
FISCAL_REFUSED = -5017


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    auth: str | None
    authorized: bool


@dataclass
class _Payment:
    status: int
    reversible: bool = True
    amount: Decimal | None = None


@dataclass
class _Failures:
    left: int = 0
    status: int = 503
    apply: bool = False
    stall_s: float = 0.0


@dataclass
class ClickMerchantFake:
    merchant_user_id: int
    secret_key: str
    service_id: int
    received: list[Received] = field(default_factory=list)
    reversals: list[int] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    """Every submit_items body that was accepted (error_code 0)."""
    refuse_items: int = 0
    """Answer the next submit_items calls with a non-zero error_code (Click's business refusal)."""
    _payments: dict[int, _Payment] = field(default_factory=dict)
    _failures: _Failures = field(default_factory=_Failures)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/merchant/"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(*fake.handle("GET", self.path, self.headers.get("Auth")))

            def do_DELETE(self) -> None:
                self._answer(*fake.handle("DELETE", self.path, self.headers.get("Auth")))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                self._answer(*fake.handle("POST", self.path, self.headers.get("Auth"), body))

            def _answer(self, status: int, body: dict[str, Any], stall_s: float = 0.0) -> None:
                time.sleep(stall_s)  # outside the lock: a stalled answer must not hold up the others
                raw = _encode(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep the test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def add_payment(
        self, payment_id: int, status: int = SUCCESSFUL, reversible: bool = True, amount: Decimal | None = None
    ) -> None:
        """A payment Click knows; with `amount` (in sum) its status answer carries the amount too."""
        with self._lock:
            self._payments[payment_id] = _Payment(status, reversible, amount)

    def payment_status(self, payment_id: int) -> int | None:
        with self._lock:
            payment = self._payments.get(payment_id)
            return None if payment is None else payment.status

    def fail_next(self, times: int, status: int = 503, apply: bool = False) -> None:
        """Answer `status` to the next calls; with `apply` the call takes effect first (a lost answer)."""
        with self._lock:
            self._failures = _Failures(times, status, apply)

    def stall_next(self, times: int, seconds: float) -> None:
        """Answer the next calls only after `seconds` (and leave them without effect): the caller times out."""
        with self._lock:
            self._failures = _Failures(times, 503, apply=False, stall_s=seconds)

    def calls(self, method: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if method is None or r.method == method]

    def handle(self, method: str, path: str, auth: str | None, body: Any = None) -> tuple[int, dict[str, Any], float]:
        """(HTTP status, body, seconds to wait before answering) for one call, recorded first."""
        with self._lock:
            authorized = self._authorized(auth)
            self.received.append(Received(method, path, auth, authorized))
            if not authorized:
                return 401, {"error_code": -401, "error_note": "Not authorized"}, 0.0
            if method == "POST" and path == SUBMIT_ITEMS:
                return self._submit_items(body)
            route = _ROUTE.fullmatch(path)
            if route is None or (route[1], method) not in {("status", "GET"), ("reversal", "DELETE")}:
                return 404, {"error_code": -404, "error_note": "Method not found"}, 0.0
            failures = self._failures
            failing = failures.left > 0
            if failing:
                failures.left -= 1
                if not failures.apply:
                    return failures.status, {"error": "Service unavailable"}, failures.stall_s
            answer = self._business(route[1], int(route[2]), int(route[3]))
            return (failures.status, {"error": "Service unavailable"}, 0.0) if failing else (200, answer, 0.0)

    def _submit_items(self, body: Any) -> tuple[int, dict[str, Any], float]:
        failures = self._failures
        if failures.left > 0:
            failures.left -= 1
            return failures.status, {"error": "Service unavailable"}, failures.stall_s
        if not isinstance(body, dict) or body.get("service_id") != self.service_id:
            return 400, {"error_code": -400, "error_note": "Bad request"}, 0.0
        payment = self._payments.get(body.get("payment_id"))  # type: ignore[arg-type]
        if payment is None or payment.status != SUCCESSFUL:
            return 200, {"error_code": PAYMENT_NOT_FOUND, "error_note": "Payment not found"}, 0.0
        if self.refuse_items > 0:
            self.refuse_items -= 1
            return 200, {"error_code": FISCAL_REFUSED, "error_note": "OFD refused the items"}, 0.0
        self.submissions.append(body)
        return 200, {"error_code": 0, "error_note": "Success"}, 0.0

    def _business(self, operation: str, service_id: int, payment_id: int) -> dict[str, Any]:
        payment = self._payments.get(payment_id)
        if service_id != self.service_id or payment is None:
            return {"error_code": PAYMENT_NOT_FOUND, "error_note": "Payment not found"}
        if operation == "status":
            note = "Success" if payment.status >= 0 else "Payment reversed"
            answer: dict[str, Any] = {
                "error_code": 0,
                "error_note": note,
                "payment_id": payment_id,
                "payment_status": payment.status,
            }
            if payment.amount is not None:
                answer["amount"] = payment.amount
            return answer
        if payment.status != SUCCESSFUL or not payment.reversible:
            return {"error_code": NOT_REVERSIBLE, "error_note": "Payment cannot be reversed"}
        payment.status = REVERSED
        self.reversals.append(payment_id)
        return {"error_code": 0, "error_note": "Success", "payment_id": payment_id}

    def _authorized(self, auth: str | None) -> bool:
        parts = (auth or "").split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            return False
        user, digest, timestamp = parts
        expected = hashlib.sha1(f"{timestamp}{self.secret_key}".encode()).hexdigest()
        fresh = abs(time.time() - int(timestamp)) <= AUTH_WINDOW_S
        return user == str(self.merchant_user_id) and hmac.compare_digest(digest, expected) and fresh


def _encode(body: dict[str, Any]) -> bytes:
    """JSON with Decimal sums written as exact numbers (`15000.00`), the way Click writes amounts."""
    fields = (
        f"{json.dumps(k)}: {format(v, 'f') if isinstance(v, Decimal) else json.dumps(v)}" for k, v in body.items()
    )
    return ("{" + ", ".join(fields) + "}").encode()
