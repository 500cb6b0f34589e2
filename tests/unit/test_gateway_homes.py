"""Each gateway has one home, `shared/gateways/<name>/`: the service around it names none of them.

The same search as `grep -rniE "payme|click|octo|stripe|integrator|cash"` over the service's own folders, except
that it does not count "payment" and "doctor", which hold two of the names as letters of ordinary words.
Migrations are history: a gateway's own index or sequence was made there and stays there.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_FOLDERS = (
    "services",
    "shared/domain",
    "shared/persistence",
    "shared/broker",
    "shared/reconciliation",
    "shared/cli",
)
HISTORY = ROOT / "shared" / "persistence" / "migrations" / "versions"
GATEWAY_NAMES = re.compile(r"payme(?!nt)|click|(?<!d)octo|stripe|integrator|cash", re.IGNORECASE)


def _service_files() -> list[Path]:
    files = [path for folder in SERVICE_FOLDERS for path in (ROOT / folder).rglob("*") if path.is_file()]
    return [path for path in files if "__pycache__" not in path.parts and HISTORY not in path.parents]


def test_the_service_names_no_gateway() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _service_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        if GATEWAY_NAMES.search(line)
    ]

    assert not found, "gateway-specific code outside shared/gateways/:\n" + "\n".join(found)


def test_the_search_finds_what_it_looks_for() -> None:
    """The pattern is not blind: each name is found, in any case and inside identifiers."""
    for text in ("PaymeCalls", "click_trans_id", "OCTO", "stripe.Webhook", "IntegratorStatus", "CashAdapter"):
        assert GATEWAY_NAMES.search(text), text
    for text in ("payment_url", "billing doctor", "a cache of accounts"):
        assert not GATEWAY_NAMES.search(text), text
