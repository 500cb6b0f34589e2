"""Subscription invoices: the first one pays the checkout; every later one is a transaction of its own."""

from __future__ import annotations

import logging
import uuid

from shared.domain.errors import DomainError, TransitionNotAllowed
from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.stripe.amounts import AmountNotAccepted, from_stripe
from shared.gateways.stripe.facts import InvoiceFacts
from shared.gateways.stripe.handlers.context import StripeEventContext

log = logging.getLogger(__name__)
RENEWAL_NAMESPACE = uuid.UUID("0f6c2c0e-5a43-4f8e-9d3b-6a1e2f7c4b58")


def renewal_id(account_id: uuid.UUID, facts: InvoiceFacts, paid: bool) -> uuid.UUID:
    """Deterministic: the same invoice (or the same failed attempt) never makes a second transaction."""
    outcome = "paid" if paid else f"attempt-{facts.attempt_count}"
    return uuid.uuid5(RENEWAL_NAMESPACE, f"{account_id}:{facts.invoice_id}:{outcome}")


async def on_invoice(context: StripeEventContext, facts: InvoiceFacts, *, paid: bool) -> None:
    if facts.subscription_id is None:
        log.info("invoice of no subscription", extra={"invoice_id": facts.invoice_id})
        return
    origin = await context.subscription_origin(facts.transaction_id, facts.subscription_id)
    if origin is None:
        log.info("invoice of a subscription not started here", extra={"subscription_id": facts.subscription_id})
        return
    if facts.is_first:
        _first_invoice(context, origin, facts, paid)
    else:
        await _renewal(context, origin, facts, paid)


def _first_invoice(context: StripeEventContext, origin: Transaction, facts: InvoiceFacts, paid: bool) -> None:
    """The checkout's own invoice: its ids (what a refund needs) and, if paid with money, the checkout's payment."""
    if origin.details.get("subscription_id") not in (None, facts.subscription_id):
        log.warning("first invoice of another subscription", extra={"transaction_id": str(origin.id)})
        return
    if paid and facts.amount_paid > 0 and origin.status is TransactionStatus.PENDING:
        try:
            origin.complete(
                context.now, {**facts.ids, "payment_status": "paid", "stripe_event_created": context.event.created}
            )
            return
        except TransitionNotAllowed:
            pass
    # A failed first attempt is left to Checkout: the customer may still pay on the same page.
    origin.update(context.now, details=facts.ids)


async def _renewal(context: StripeEventContext, origin: Transaction, facts: InvoiceFacts, paid: bool) -> None:
    repo = context.uow.transactions(context.tenant_id)
    new_id = renewal_id(context.account_id, facts, paid)
    if await repo.get(new_id, lock=False) is not None:
        return  # another event about the same invoice already made it
    try:
        money = from_stripe(facts.amount_paid if paid else facts.amount_due, facts.currency)
        money = Money.positive(money.minor, money.currency.code)
    except (AmountNotAccepted, DomainError) as exc:
        log.warning("renewal invoice with nothing to record", extra={"invoice_id": facts.invoice_id, "why": str(exc)})
        return
    tx = Transaction.open(
        id=new_id,
        tenant_id=context.tenant_id,
        account_id=context.account_id,
        gateway="stripe",
        money=money,
        details={
            "mode": "subscription",
            **facts.ids,
            "billing_reason": facts.billing_reason,
            "parent_transaction_id": str(origin.id),
            "stripe_event_created": context.event.created,
        },
        metadata=origin.metadata,  # project and stage ids travel with every renewal's events
        at=context.happened_at,
    )
    repo.add(tx)
    if paid:
        tx.complete(context.now, {"payment_status": "paid"})
    else:
        # The decline reason lives on the PaymentIntent, which an invoice event does not carry.
        tx.fail(context.now, {"error_note": f"the renewal payment failed at Stripe (attempt {facts.attempt_count})"})
