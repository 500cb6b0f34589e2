"""Checkout Session events: the payment of a transaction we created completes, fails, expires or waits."""

from __future__ import annotations

import logging

from shared.domain.errors import TransitionNotAllowed
from shared.domain.status import TransactionStatus
from shared.gateways.base import ProviderStatus, apply_provider_status
from shared.gateways.stripe.facts import SessionFacts
from shared.gateways.stripe.handlers.context import StripeEventContext

log = logging.getLogger(__name__)
STAMP = "stripe_event_created"


def outcome_of(kind: str, facts: SessionFacts) -> TransactionStatus | None:
    """What the event means for the transaction; None: no move, only newer facts to record."""
    match kind:
        case "checkout.session.async_payment_succeeded":
            return TransactionStatus.COMPLETED
        case "checkout.session.async_payment_failed":
            return TransactionStatus.FAILED
        case "checkout.session.expired":
            return TransactionStatus.EXPIRED
        case _:  # checkout.session.completed: paid now, free (trial), or an asynchronous payment under way
            return facts.outcome


async def on_session(context: StripeEventContext, facts: SessionFacts) -> None:
    tx = await context.ours(facts.transaction_id) or await context.by_detail("session_id", facts.session_id)
    if tx is None:
        log.info("checkout session of no transaction here", extra={"session_id": facts.session_id})
        return
    outcome = outcome_of(context.event.type, facts)
    reported = {**facts.ids, **facts.state, STAMP: context.event.created}
    if outcome is TransactionStatus.FAILED:
        reported["error_note"] = "the asynchronous payment failed at Stripe"
    if outcome is None:
        # Only a pending payment takes the session's state, and only from a report newer than the last one.
        if tx.status is TransactionStatus.PENDING and context.is_newer(tx, STAMP):
            tx.update(context.now, details=reported)
        return
    try:
        apply_provider_status(tx, ProviderStatus(outcome, reported), context.now)
    except TransitionNotAllowed:
        # A stale or repeated report: the state machine keeps the transaction where it is, and so do its details.
        if outcome is TransactionStatus.COMPLETED and not tx.status.was_paid():
            log.error(
                "paid at Stripe but no longer payable here: refund or reconcile it",
                extra={"transaction_id": str(tx.id), "status": tx.status.value, "session_id": facts.session_id},
            )
        elif outcome is TransactionStatus.COMPLETED:
            tx.update(context.now, details=facts.ids)  # the same payment told twice: only ids it may have missed
        else:
            log.info("stale stripe event ignored", extra={"transaction_id": str(tx.id), "event_id": context.event.id})
