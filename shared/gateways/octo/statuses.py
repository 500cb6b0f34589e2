"""Octo's payment statuses and the one translator to ours."""

from __future__ import annotations

from enum import StrEnum

from shared.domain.status import TransactionStatus


class OctoStatus(StrEnum):
    CREATED = "created"
    WAIT_USER_ACTION = "wait_user_action"
    WAITING_FOR_CAPTURE = "waiting_for_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    CANCELLED = "cancelled"  # Octo uses both spellings
    FAILED = "failed"


def parse_status(raw: object) -> OctoStatus | None:
    """Octo's status, or None for one this code does not know (never guessed)."""
    if not isinstance(raw, str):
        return None
    try:
        return OctoStatus(raw.strip().lower())
    except ValueError:
        return None


def to_transaction_status(status: OctoStatus) -> TransactionStatus:
    match status:
        case OctoStatus.CREATED | OctoStatus.WAIT_USER_ACTION | OctoStatus.WAITING_FOR_CAPTURE:
            return TransactionStatus.PENDING
        case OctoStatus.SUCCEEDED:
            return TransactionStatus.COMPLETED
        case OctoStatus.CANCELED | OctoStatus.CANCELLED:
            return TransactionStatus.CANCELED
        case OctoStatus.FAILED:
            return TransactionStatus.FAILED


def progress(status: OctoStatus) -> int:
    """How far a payment has gone, so a late notify never moves recorded facts backwards."""
    match status:
        case OctoStatus.CREATED:
            return 0
        case OctoStatus.WAIT_USER_ACTION:
            return 1
        case OctoStatus.WAITING_FOR_CAPTURE:
            return 2
        case OctoStatus.SUCCEEDED | OctoStatus.CANCELED | OctoStatus.CANCELLED | OctoStatus.FAILED:
            return 3
