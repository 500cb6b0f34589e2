"""The messages the code and templates use, as Babel extracts them: what every catalog must translate."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (ROOT / "services" / "ingress", ROOT / "shared" / "i18n")
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "N_": None, "translate": (2,)}
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def used_messages() -> dict[str, list[str]]:
    """Every msgid with the files that use it."""
    found: dict[str, list[str]] = {}
    for source in SOURCES:
        for filename, _, message, _, _ in extract_from_dir(
            source, METHODS, options_map=OPTIONS, keywords=KEYWORDS, comment_tags=()
        ):
            if isinstance(message, tuple):
                message = message[0]
            if message:
                found.setdefault(message, []).append(str(Path(source.name) / filename))
    return found


if __name__ == "__main__":
    import json

    print(json.dumps(sorted(used_messages()), ensure_ascii=False, indent=1))
