"""Reconciliation: comparing our ledger with what a processor says happened (pure, no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.domain.status import TransactionStatus


class DifferenceKind(StrEnum):
    MISSING_HERE = "missing_here"
    MISSING_THERE = "missing_there"
    AMOUNT_DIFFERS = "amount_differs"
    STATUS_DIFFERS = "status_differs"
    REFUND_DIFFERS = "refund_differs"


class Resolution(StrEnum):
    FIXED = "fixed"
    NEEDS_ATTENTION = "needs_attention"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """Our side of one payment."""

    transaction_id: uuid.UUID
    status: TransactionStatus
    amount: int
    refunded_amount: int
    currency: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": str(self.transaction_id),
            "status": self.status.value,
            "amount": self.amount,
            "refunded_amount": self.refunded_amount,
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """The processor's side of one payment, already in our vocabulary (minor units, our statuses).

    It is matched to our transaction by `transaction_id` when the processor knows our id, else by `reference`
    (the gateway's own id) or `merchant_reference` (our order reference at the gateway) in the details.
    """

    reference: str | None
    transaction_id: uuid.UUID | None
    amount: int | None
    refunded_amount: int | None
    currency: str | None
    status: TransactionStatus | None
    merchant_reference: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "merchant_reference": self.merchant_reference,
            "transaction_id": None if self.transaction_id is None else str(self.transaction_id),
            "amount": self.amount,
            "refunded_amount": self.refunded_amount,
            "currency": self.currency,
            "status": None if self.status is None else self.status.value,
        }


@dataclass(frozen=True, slots=True)
class Difference:
    kind: DifferenceKind
    resolution: Resolution
    transaction_id: uuid.UUID | None
    reference: str | None
    ours: dict[str, Any] | None
    theirs: dict[str, Any] | None

    @property
    def completes_payment(self) -> bool:
        """The one safe fix: the processor says paid and we still say pending."""
        return self.resolution is Resolution.FIXED


def compare(ours: LedgerEntry | None, theirs: ProviderRecord | None) -> list[Difference]:
    """Every way the two sides of one payment disagree; an empty list when they agree."""
    if ours is None and theirs is None:
        return []
    if ours is None:
        assert theirs is not None
        return [_difference(DifferenceKind.MISSING_HERE, None, theirs)]
    if theirs is None:
        if not ours.status.was_paid():
            return []  # never paid here and unknown there: nothing moved
        return [_difference(DifferenceKind.MISSING_THERE, ours, None)]
    found: list[Difference] = []
    if theirs.amount is not None and (
        theirs.amount != ours.amount or (theirs.currency or ours.currency) != ours.currency
    ):
        found.append(_difference(DifferenceKind.AMOUNT_DIFFERS, ours, theirs))
    if theirs.status is not None and _settled(theirs.status) != _settled(ours.status):
        fixable = (
            ours.status is TransactionStatus.PENDING
            and theirs.status is TransactionStatus.COMPLETED
            and not found  # a payment whose amount disagrees is never completed automatically
        )
        found.append(_difference(DifferenceKind.STATUS_DIFFERS, ours, theirs, fixable))
    elif theirs.refunded_amount is not None and theirs.refunded_amount != ours.refunded_amount:
        found.append(_difference(DifferenceKind.REFUND_DIFFERS, ours, theirs))
    return found


def _settled(status: TransactionStatus) -> str:
    """Statuses compared at the level a processor reports them."""
    match status:
        case TransactionStatus.COMPLETED:
            return "paid"
        case TransactionStatus.PARTIALLY_REFUNDED | TransactionStatus.REFUNDED:
            return "refunded"
        case TransactionStatus.PENDING:
            return "pending"
        case TransactionStatus.FAILED | TransactionStatus.CANCELED | TransactionStatus.EXPIRED:
            return "unpaid"


def _difference(
    kind: DifferenceKind, ours: LedgerEntry | None, theirs: ProviderRecord | None, fixable: bool = False
) -> Difference:
    return Difference(
        kind=kind,
        resolution=Resolution.FIXED if fixable else Resolution.NEEDS_ATTENTION,
        transaction_id=ours.transaction_id if ours else (theirs.transaction_id if theirs else None),
        reference=theirs.reference if theirs else None,
        ours=ours.as_dict() if ours else None,
        theirs=theirs.as_dict() if theirs else None,
    )
