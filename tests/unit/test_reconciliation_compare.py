"""Every kind of difference between our ledger and a processor's records."""

from __future__ import annotations

import uuid

from shared.domain.reconciliation import DifferenceKind, LedgerEntry, ProviderRecord, Resolution, compare
from shared.domain.status import TransactionStatus as S

TX = uuid.uuid4()


def ours(status: S = S.COMPLETED, amount: int = 1000, refunded: int = 0) -> LedgerEntry:
    return LedgerEntry(TX, status, amount, refunded, "UZS")


def theirs(status: S | None = S.COMPLETED, amount: int | None = 1000, refunded: int | None = 0) -> ProviderRecord:
    return ProviderRecord("ref-1", TX, amount, refunded, "UZS", status)


def kinds(found: list) -> list[DifferenceKind]:  # type: ignore[type-arg]
    return [d.kind for d in found]


def test_agreeing_sides_have_no_difference() -> None:
    assert compare(ours(), theirs()) == []
    assert compare(ours(S.PARTIALLY_REFUNDED, refunded=400), theirs(S.PARTIALLY_REFUNDED, refunded=400)) == []


def test_missing_on_either_side() -> None:
    assert kinds(compare(None, theirs())) == [DifferenceKind.MISSING_HERE]
    assert kinds(compare(ours(), None)) == [DifferenceKind.MISSING_THERE]
    assert compare(ours(S.EXPIRED), None) == [], "a never-paid payment unknown there is no difference"


def test_amount_status_and_refund_differences() -> None:
    assert kinds(compare(ours(), theirs(amount=999))) == [DifferenceKind.AMOUNT_DIFFERS]
    assert kinds(compare(ours(), theirs(S.FAILED))) == [DifferenceKind.STATUS_DIFFERS]
    assert kinds(compare(ours(S.PARTIALLY_REFUNDED, refunded=100), theirs(S.PARTIALLY_REFUNDED, refunded=300))) == [
        DifferenceKind.REFUND_DIFFERS
    ]


def test_only_paid_there_pending_here_is_fixed_automatically() -> None:
    [fix] = compare(ours(S.PENDING), theirs(S.COMPLETED))
    assert fix.kind is DifferenceKind.STATUS_DIFFERS and fix.resolution is Resolution.FIXED
    [other] = compare(ours(S.COMPLETED), theirs(S.PENDING))
    assert other.resolution is Resolution.NEEDS_ATTENTION
    both = compare(ours(S.PENDING), theirs(S.COMPLETED, amount=5))
    assert [d.resolution for d in both] == [Resolution.NEEDS_ATTENTION, Resolution.NEEDS_ATTENTION]
