"""A finance ledger fed by billing.events: money in and out per currency, and in the tenant's reporting currency.

Every event's `data.reporting` is the transaction converted when that change was made: a payment counts in at
its own day's rate, each refund out at the rate of the day it succeeded, and the difference between the two on
the refunded amount is the realised exchange difference (a gain when positive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, TypedDict

from examples.consumers import REFUND_SUCCEEDED, TRANSACTION_COMPLETED, envelope, minor_units
from shared.domain.money import ISO_4217_EXPONENTS

# "in" is a keyword, hence the functional form.
Totals = TypedDict("Totals", {"in": int, "out": int, "net": int})
Booked = TypedDict("Booked", {"in": int, "out": int, "net": int, "exchange_difference": int})


@dataclass
class _Flow:
    money_in: int = 0
    money_out: int = 0
    exchange_difference: int = 0


@dataclass(frozen=True, slots=True)
class _Conversion:
    """`data.reporting` read exactly: minor units of the transaction's currency to the reporting currency's."""

    currency: str
    factor: Fraction

    def of(self, minor: int) -> int:
        return round(minor * self.factor)  # round() of a Fraction is half to even, like billing's


@dataclass(frozen=True, slots=True)
class _Entry:
    transaction_id: str
    currency: str
    money_in: int
    money_out: int
    conversion: _Conversion | None


@dataclass
class _Payment:
    """What the ledger remembers of one transaction to value its refunds at the payment's rate."""

    conversion: _Conversion | None = None
    refunds: list[tuple[int, _Conversion]] = field(default_factory=list)


class FinanceLedger:
    """Counts each completed payment in and each succeeded refund out, once per event id."""

    def __init__(self, tenant_id: str | None = None) -> None:
        # The stream carries every tenant; a ledger for one tenant's books must not count the others'.
        self._tenant_id = tenant_id
        # In memory for the example; a real consumer stores seen ids with its totals in one transaction.
        self._seen: set[str] = set()
        self._flows: dict[str, _Flow] = {}
        self._booked: dict[str, _Flow] = {}
        self._payments: dict[str, _Payment] = {}
        self._differences: dict[str, int] = {}
        self._unconverted: list[str] = []

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply one event; False (and no change) when its id was already applied."""
        head = envelope(event)
        if head.id in self._seen:
            return False
        entry = self._entry(head.type, head.data) if self._concerns(head.tenant_id) else None
        self._seen.add(head.id)
        if entry is not None:
            flow = self._flows.setdefault(entry.currency, _Flow())
            flow.money_in += entry.money_in
            flow.money_out += entry.money_out
            self._book(head.id, entry)
        return True

    def totals(self) -> dict[str, Totals]:
        """Money in, out and net per currency code."""
        return {
            code: {"in": flow.money_in, "out": flow.money_out, "net": flow.money_in - flow.money_out}
            for code, flow in sorted(self._flows.items())
        }

    def reporting(self) -> dict[str, Booked]:
        """Money in, out and net in the reporting currency, and the realised exchange difference (gain > 0)."""
        return {
            code: {
                "in": flow.money_in,
                "out": flow.money_out,
                "net": flow.money_in - flow.money_out,
                "exchange_difference": flow.exchange_difference,
            }
            for code, flow in sorted(self._booked.items())
        }

    def exchange_differences(self) -> dict[str, int]:
        """Per transaction, its refunds valued at the payment's rate less the same refunds at their own rates."""
        return dict(self._differences)

    def unconverted(self) -> list[str]:
        """Ids of the events that moved money without a conversion (billing had no rate): to book by hand."""
        return list(self._unconverted)

    def _concerns(self, tenant_id: str | None) -> bool:
        return self._tenant_id is None or tenant_id == self._tenant_id

    def _book(self, event_id: str, entry: _Entry) -> None:
        if entry.conversion is None:
            self._unconverted.append(event_id)
            return
        booked = self._booked.setdefault(entry.conversion.currency, _Flow())
        payment = self._payments.setdefault(entry.transaction_id, _Payment())
        if entry.money_in:
            booked.money_in += entry.conversion.of(entry.money_in)
            payment.conversion = entry.conversion
            for refunded, at_refund in payment.refunds:  # refunds delivered before their payment
                self._realise(entry.transaction_id, refunded, entry.conversion, at_refund)
        if entry.money_out:
            booked.money_out += entry.conversion.of(entry.money_out)
            if payment.conversion is None:
                payment.refunds.append((entry.money_out, entry.conversion))
            else:
                self._realise(entry.transaction_id, entry.money_out, payment.conversion, entry.conversion)

    def _realise(self, transaction_id: str, refunded: int, at_payment: _Conversion, at_refund: _Conversion) -> None:
        if at_payment.currency != at_refund.currency:
            return  # the tenant changed its reporting currency in between: no difference in one currency
        difference = at_payment.of(refunded) - at_refund.of(refunded)
        self._booked[at_payment.currency].exchange_difference += difference
        self._differences[transaction_id] = self._differences.get(transaction_id, 0) + difference

    @staticmethod
    def _entry(kind: str, data: dict[str, Any]) -> _Entry | None:
        """What an event moves, validated before anything changes."""
        if kind == TRANSACTION_COMPLETED:
            money_in, money_out = minor_units(data.get("amount"), "data.amount"), 0
        elif kind == REFUND_SUCCEEDED:
            refund = data.get("refund")
            if not isinstance(refund, dict):
                raise ValueError("a refund event without data.refund")
            money_in, money_out = 0, minor_units(refund.get("amount"), "data.refund.amount")
        else:
            return None
        currency = _currency(data.get("currency"), "data.currency")
        return _Entry(str(data.get("id")), currency, money_in, money_out, _conversion(currency, data.get("reporting")))


def _conversion(currency: str, reporting: object) -> _Conversion | None:
    """`data.reporting` as an exact factor of minor units; None when billing had no rate for that day."""
    if reporting is None:
        return None
    if not isinstance(reporting, dict):
        raise ValueError("data.reporting must be an object or null")
    target = _currency(reporting.get("currency"), "data.reporting.currency")
    rate = reporting.get("rate")
    try:
        exact = Decimal(rate) if isinstance(rate, str) else None
    except InvalidOperation:
        exact = None
    if exact is None or not exact.is_finite() or exact <= 0:
        raise ValueError(f"data.reporting.rate must be a positive decimal string, got {rate!r}")
    shift = ISO_4217_EXPONENTS[target] - ISO_4217_EXPONENTS[currency]
    return _Conversion(target, Fraction(exact) * Fraction(10) ** shift)


def _currency(code: object, what: str) -> str:
    if not isinstance(code, str) or code.upper() not in ISO_4217_EXPONENTS:
        raise ValueError(f"{what} must be an ISO 4217 code, got {code!r}")
    return code.upper()


if __name__ == "__main__":
    from examples.consumers.runner import run

    ledger = FinanceLedger()
    run("examples.finance", ledger.apply, lambda: {"totals": ledger.totals(), "reporting": ledger.reporting()})
