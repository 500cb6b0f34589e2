"""A finance ledger fed by billing.events: money in and out per currency, in minor units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from examples.consumers import REFUND_SUCCEEDED, TRANSACTION_COMPLETED, envelope, minor_units

# "in" is a keyword, hence the functional form.
Totals = TypedDict("Totals", {"in": int, "out": int, "net": int})


@dataclass
class _Flow:
    money_in: int = 0
    money_out: int = 0


class FinanceLedger:
    """Counts each completed payment in and each succeeded refund out, once per event id."""

    def __init__(self, tenant_id: str | None = None) -> None:
        # The stream carries every tenant; a ledger for one tenant's books must not count the others'.
        self._tenant_id = tenant_id
        # In memory for the example; a real consumer stores seen ids with its totals in one transaction.
        self._seen: set[str] = set()
        self._flows: dict[str, _Flow] = {}

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply one event; False (and no change) when its id was already applied."""
        head = envelope(event)
        if head.id in self._seen:
            return False
        entry = self._entry(head.type, head.data) if self._concerns(head.tenant_id) else None
        self._seen.add(head.id)
        if entry is not None:
            currency, money_in, money_out = entry
            flow = self._flows.setdefault(currency, _Flow())
            flow.money_in += money_in
            flow.money_out += money_out
        return True

    def totals(self) -> dict[str, Totals]:
        """Money in, out and net per currency code."""
        return {
            code: {"in": flow.money_in, "out": flow.money_out, "net": flow.money_in - flow.money_out}
            for code, flow in sorted(self._flows.items())
        }

    def _concerns(self, tenant_id: str | None) -> bool:
        return self._tenant_id is None or tenant_id == self._tenant_id

    @staticmethod
    def _entry(kind: str, data: dict[str, Any]) -> tuple[str, int, int] | None:
        """What an event moves as (currency, in, out), validated before anything changes."""
        if kind == TRANSACTION_COMPLETED:
            return _currency(data), minor_units(data.get("amount"), "data.amount"), 0
        if kind == REFUND_SUCCEEDED:
            refund = data.get("refund")
            if not isinstance(refund, dict):
                raise ValueError("a refund event without data.refund")
            return _currency(data), 0, minor_units(refund.get("amount"), "data.refund.amount")
        return None


def _currency(data: dict[str, Any]) -> str:
    code = data.get("currency")
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
        raise ValueError(f"data.currency must be an ISO 4217 code, got {code!r}")
    return code.upper()


if __name__ == "__main__":
    from examples.consumers.runner import run

    ledger = FinanceLedger()
    run("examples.finance", ledger.apply, ledger.totals)
