"""Subscription events, told on the checkout transaction that started the subscription."""

from __future__ import annotations

import logging

from shared.domain.events import EventType
from shared.gateways.stripe.facts import SubscriptionFacts
from shared.gateways.stripe.handlers.context import StripeEventContext

log = logging.getLogger(__name__)
STAMP = "subscription_event_created"


async def on_subscription(context: StripeEventContext, kind: EventType, facts: SubscriptionFacts) -> None:
    origin = await context.subscription_origin(facts.transaction_id, facts.subscription_id)
    if origin is None:
        log.info("subscription not started here", extra={"subscription_id": facts.subscription_id})
        return
    newer = context.is_newer(origin, STAMP)
    if not newer and kind is EventType.SUBSCRIPTION_UPDATED:
        # An older snapshot than one already told: consumers would see the subscription go back in time.
        log.info("stale subscription update ignored", extra={"event_id": context.event.id})
        return
    # Creation and cancellation happen once each and are always told; the details only move forward.
    details = (
        {"subscription_id": facts.subscription_id, "subscription_status": facts.status, STAMP: context.event.created}
        if newer
        else None
    )
    origin.note_subscription(kind, facts.view, context.now, details)
