"""Applies Stripe's events: deduplicated by event id, stored raw, then one change per event in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.clock import Clock
from shared.domain.events import EventType
from shared.gateways.base import GatewayAccount, ProviderRejected
from shared.gateways.stripe.adapter import StripeAdapter
from shared.gateways.stripe.facts import (
    ChargeFacts,
    InvoiceFacts,
    RefundFacts,
    SessionFacts,
    StripeEvent,
    SubscriptionFacts,
)
from shared.gateways.stripe.handlers.checkout import on_session
from shared.gateways.stripe.handlers.context import StripeEventContext
from shared.gateways.stripe.handlers.invoices import on_invoice
from shared.gateways.stripe.handlers.refunds import on_refund
from shared.gateways.stripe.handlers.subscriptions import on_subscription
from shared.gateways.stripe.messages import StripeEventMessage
from shared.persistence.port import UnitOfWorkPort

log = logging.getLogger(__name__)
CONSUMER = "stripe-events"
T = TypeVar("T")

SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
SUBSCRIPTION_EVENTS = {
    "customer.subscription.created": EventType.SUBSCRIPTION_CREATED,
    "customer.subscription.updated": EventType.SUBSCRIPTION_UPDATED,
    "customer.subscription.deleted": EventType.SUBSCRIPTION_CANCELED,
}
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})
Facts = SessionFacts | InvoiceFacts | SubscriptionFacts | list[RefundFacts] | None


class StripeEvents:
    def __init__(self, uow: Callable[[], UnitOfWorkPort], adapter: StripeAdapter, clock: Clock) -> None:
        self._uow = uow
        self._adapter = adapter
        self._clock = clock

    async def handle(self, message: StripeEventMessage) -> None:
        """One event, at least once and in any order: a duplicate stops at the inbox, a stale one changes nothing."""
        event = StripeEvent.parse(message.event)
        facts = await self._read(message, event)  # any question to Stripe happens here, outside the transaction
        async with self._uow() as uow:
            if not await uow.claim(CONSUMER, f"{message.account_id}:{event.id}"):
                return
            uow.log_webhook(
                tenant_id=message.tenant_id,
                account_id=message.account_id,
                gateway="stripe",
                message_id=event.id,
                payload=message.event,
            )
            now = self._clock()
            context = StripeEventContext(uow, message.tenant_id, message.account_id, event, now)
            await self._apply(context, facts)
            await uow.commit(actor=message.actor, request_id=event.id, at=now)

    async def _read(self, message: StripeEventMessage, event: StripeEvent) -> Facts:
        """The event's facts, completed from Stripe's API where the payload leaves them out."""
        if event.type in SESSION_EVENTS:
            return SessionFacts.of(event.obj)
        if event.type in ("invoice.paid", "invoice.payment_failed"):
            invoice = InvoiceFacts.of(event.obj)
            if event.type == "invoice.paid" and invoice.amount_paid > 0 and not _pays_with(invoice):
                account = await self._account(message)
                if account is not None:
                    invoice = invoice.with_ids(
                        await self._ask(self._adapter.invoice_payment(account, invoice.invoice_id), {})
                    )
            return invoice
        if event.type in SUBSCRIPTION_EVENTS:
            return SubscriptionFacts.of(event.obj)
        if event.type == "charge.refunded":
            charge = ChargeFacts.of(event.obj)
            if charge.refunds is not None:
                return charge.refunds
            account = await self._account(message)
            return (
                [] if account is None else await self._ask(self._adapter.charge_refunds(account, charge.charge_id), [])
            )
        if event.type in REFUND_EVENTS:
            return [RefundFacts.of(event.obj)]
        return None

    async def _apply(self, context: StripeEventContext, facts: Facts) -> None:
        kind = context.event.type
        if isinstance(facts, SessionFacts):
            await on_session(context, facts)
        elif isinstance(facts, InvoiceFacts):
            await on_invoice(context, facts, paid=kind == "invoice.paid")
        elif isinstance(facts, SubscriptionFacts):
            await on_subscription(context, SUBSCRIPTION_EVENTS[kind], facts)
        elif isinstance(facts, list):
            for refund in facts:
                await on_refund(context, refund)
        else:
            log.info("stripe event kept, not used", extra={"event_id": context.event.id, "type": kind})

    @staticmethod
    async def _ask(question: Awaitable[T], otherwise: T) -> T:
        """A look-up at Stripe: unavailable is retried with the message; a refusal will not change, so go on without."""
        try:
            return await question
        except ProviderRejected as exc:
            log.error("stripe refused a look-up; the event is applied without it", extra={"why": str(exc)})
            return otherwise

    async def _account(self, message: StripeEventMessage) -> GatewayAccount | None:
        async with self._uow() as uow:
            return await uow.accounts(message.tenant_id).get(message.account_id)


def _pays_with(invoice: InvoiceFacts) -> bool:
    return bool(invoice.ids.get("payment_intent_id") or invoice.ids.get("charge_id"))
