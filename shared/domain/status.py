"""Transaction and refund statuses, and the transitions between them (architecture.md)."""

from __future__ import annotations

from enum import StrEnum


class TransactionStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"

    def is_terminal(self) -> bool:
        match self:
            case TransactionStatus.FAILED | TransactionStatus.CANCELED | TransactionStatus.EXPIRED:
                return True
            case TransactionStatus.REFUNDED:
                return True
            case TransactionStatus.PENDING | TransactionStatus.COMPLETED | TransactionStatus.PARTIALLY_REFUNDED:
                return False

    def was_paid(self) -> bool:
        match self:
            case TransactionStatus.COMPLETED | TransactionStatus.PARTIALLY_REFUNDED | TransactionStatus.REFUNDED:
                return True
            case (
                TransactionStatus.PENDING
                | TransactionStatus.FAILED
                | TransactionStatus.CANCELED
                | TransactionStatus.EXPIRED
            ):
                return False

    def is_refundable(self) -> bool:
        return self in (TransactionStatus.COMPLETED, TransactionStatus.PARTIALLY_REFUNDED)


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ALLOWED_TRANSITIONS: dict[TransactionStatus, frozenset[TransactionStatus]] = {
    TransactionStatus.PENDING: frozenset(
        {
            TransactionStatus.COMPLETED,
            TransactionStatus.FAILED,
            TransactionStatus.CANCELED,
            TransactionStatus.EXPIRED,
        }
    ),
    TransactionStatus.COMPLETED: frozenset({TransactionStatus.PARTIALLY_REFUNDED, TransactionStatus.REFUNDED}),
    TransactionStatus.PARTIALLY_REFUNDED: frozenset({TransactionStatus.PARTIALLY_REFUNDED, TransactionStatus.REFUNDED}),
    TransactionStatus.FAILED: frozenset(),
    TransactionStatus.CANCELED: frozenset(),
    TransactionStatus.EXPIRED: frozenset(),
    TransactionStatus.REFUNDED: frozenset(),
}


def can_transition(current: TransactionStatus, target: TransactionStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[current]
