"""Refunds as Stripe reports them: ours are settled, those made in Stripe's dashboard are mirrored in the ledger."""

from __future__ import annotations

import logging
import uuid

from shared.domain.errors import DomainError, NotFound
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus, TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.stripe.amounts import AmountNotAccepted, from_stripe
from shared.gateways.stripe.facts import RefundFacts
from shared.gateways.stripe.handlers.context import StripeEventContext

log = logging.getLogger(__name__)
MIRROR_NAMESPACE = uuid.UUID("8d0b7f6e-3c1a-4b52-a9e4-51f0c2d7e613")


def mirror_id(account_id: uuid.UUID, stripe_refund_id: str) -> uuid.UUID:
    """Our id for a refund made in Stripe: the same Stripe refund is always the same record."""
    return uuid.uuid5(MIRROR_NAMESPACE, f"{account_id}:{stripe_refund_id}")


async def on_refund(context: StripeEventContext, facts: RefundFacts) -> None:
    tx = await context.by_detail("payment_intent_id", facts.payment_intent_id) or await context.by_detail(
        "charge_id", facts.charge_id
    )
    if tx is None:
        # The payment's own event may not be applied yet (events come in any order): retry, then park.
        raise NotFound(
            f"no payment here for Stripe refund {facts.refund_id} ({facts.payment_intent_id or facts.charge_id})"
        )
    refunds = context.uow.refunds(context.tenant_id)
    if facts.our_refund_id is not None:
        ours = await refunds.get(facts.our_refund_id)
        if ours is not None and ours.transaction_id == tx.id:
            _settle_ours(context, tx, ours, facts)
            return
    record_id = mirror_id(context.account_id, facts.refund_id)
    if await refunds.get(record_id) is not None:
        return  # mirrored before (a mirror is opened and settled in one go)
    if facts.status != "succeeded":
        log.info("stripe refund not succeeded (yet)", extra={"refund": facts.refund_id, "status": facts.status})
        return
    if tx.status is TransactionStatus.PENDING:
        raise NotFound(f"payment of transaction {tx.id} not recorded yet; Stripe refund {facts.refund_id} waits")
    try:
        amount = from_stripe(facts.amount, facts.currency)
        if amount.currency.code != tx.currency:
            raise AmountNotAccepted(f"refund in {amount.currency.code}, payment in {tx.currency}")
        # Money already went back at Stripe: nothing in flight here can hold it back.
        mirror = tx.request_refund(
            refund_id=record_id,
            amount=amount.minor,
            reason=f"made in Stripe ({facts.reason})" if facts.reason else "made in Stripe",
            in_flight=0,
            at=context.now,
        )
    except (AmountNotAccepted, DomainError) as exc:
        log.error(
            "a Stripe refund the ledger cannot take: reconcile it",
            extra={"transaction_id": str(tx.id), "refund": facts.refund_id, "why": str(exc)},
        )
        return
    refunds.add(mirror)
    # Never left `requested`: the refunds janitor would otherwise ask Stripe for this refund a second time.
    tx.settle_refund(mirror, context.now, facts.refund_id)


def _settle_ours(context: StripeEventContext, tx: Transaction, ours: Refund, facts: RefundFacts) -> None:
    """A refund we asked for: Stripe's word settles it if the refunds worker has not yet."""
    match facts.status, ours.status:
        case "succeeded", RefundStatus.REQUESTED:
            tx.settle_refund(ours, context.now, facts.refund_id)
        case (("failed" | "canceled"), RefundStatus.REQUESTED):
            tx.fail_refund(
                ours, f"Stripe refund {facts.status}: {facts.failure_reason or 'no reason given'}", context.now
            )
        case (("failed" | "canceled"), RefundStatus.SUCCEEDED):
            log.error(
                "a refund failed at Stripe after it was recorded as succeeded: an operator must reconcile it",
                extra={"transaction_id": str(tx.id), "refund_id": str(ours.id), "stripe_refund": facts.refund_id},
            )
        case _:
            pass  # still under way, or already recorded
