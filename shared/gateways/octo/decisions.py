"""Our capture decision on a payment Octo holds (auto_capture false), kept in the transaction's details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from shared.domain.errors import InvalidAmount, TransitionNotAllowed
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.octo.statuses import OctoStatus, parse_status

ACCEPT_STATUS = "accept_status"
FINAL_AMOUNT = "final_amount"
ACCEPT_OUTCOME = "accept_outcome"
CAPTURE: Literal["capture"] = "capture"
CANCEL: Literal["cancel"] = "cancel"
ANSWERED = "answered"  # given in the HTTP answer to Octo's waiting_for_capture notify
SENT = "sent"  # sent with set_accept and acknowledged
REFUSED = "refused"  # set_accept refused by Octo (error_note says why); the janitor learns the end state

Decision = tuple[Literal["capture", "cancel"], int | None]


def awaits_decision(status: TransactionStatus, details: Mapping[str, Any]) -> bool:
    held = parse_status(details.get("status")) is OctoStatus.WAITING_FOR_CAPTURE
    return status is TransactionStatus.PENDING and held and not details.get(ACCEPT_STATUS)


def decide(tx: Transaction, capture: bool, amount: int | None) -> dict[str, Any]:
    """The details that record a capture (of `amount`, default all) or a release, before anything is sent."""
    if not capture:
        if tx.details.get(ACCEPT_STATUS) == CAPTURE:
            raise TransitionNotAllowed("Octo is capturing this payment; refund it once it completes")
        return {ACCEPT_STATUS: CANCEL} if awaits_decision(tx.status, tx.details) else {}
    if not awaits_decision(tx.status, tx.details):
        raise TransitionNotAllowed("this Octo payment is not waiting for a capture")
    final = tx.amount if amount is None else amount
    if isinstance(final, bool) or not isinstance(final, int) or not 0 < final <= tx.amount:
        raise InvalidAmount(f"a capture takes between 1 and {tx.amount} (minor units), not {amount}")
    return {ACCEPT_STATUS: CAPTURE, FINAL_AMOUNT: final}


def decision_unsent(tx: Transaction) -> bool:
    decided = tx.details.get(ACCEPT_STATUS) in (CAPTURE, CANCEL)
    return decided and tx.details.get(ACCEPT_OUTCOME) is None and bool(tx.details.get("octo_payment_uuid"))


def partial_capture(tx: Transaction) -> int | None:
    """The amount a capture takes when it is less than the whole (the rest is released to the customer)."""
    final = tx.details.get(FINAL_AMOUNT)
    if tx.details.get(ACCEPT_STATUS) != CAPTURE or isinstance(final, bool) or not isinstance(final, int):
        return None
    return final if 0 < final < tx.amount else None


def on_waiting_notify(tx: Transaction, capture_on_notify: bool) -> Decision | None:
    """What to answer Octo's waiting_for_capture notify; None leaves the payment held for a later decision."""
    decided = tx.details.get(ACCEPT_STATUS)
    if decided == CAPTURE:
        return CAPTURE, partial_capture(tx)
    if decided == CANCEL:
        return CANCEL, None
    match tx.status:
        case TransactionStatus.PENDING:
            return (CAPTURE, None) if capture_on_notify and tx.deleted_at is None else None
        case TransactionStatus.COMPLETED | TransactionStatus.PARTIALLY_REFUNDED | TransactionStatus.REFUNDED:
            return CAPTURE, None  # already paid here: the money was taken, keep it consistent
        case TransactionStatus.CANCELED | TransactionStatus.FAILED | TransactionStatus.EXPIRED:
            return CANCEL, None  # given up here meanwhile: release the customer's money
