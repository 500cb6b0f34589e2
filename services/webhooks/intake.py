"""Turns each event on billing.webhooks into one delivery per endpoint that wants it, then acks.

The relay puts on that queue only the events an enabled endpoint of their tenant wanted when it claimed them
(shared/persistence/outbox.py); an endpoint disabled since then simply gets no delivery."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable

from aio_pika.abc import AbstractIncomingMessage

from shared.domain.webhooks import event_type_of
from shared.persistence.webhooks import WebhookDeliveries

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 2.0
"""A pause before handing an event back when PostgreSQL failed, so an outage does not use up its redeliveries."""


class InvalidEvent(ValueError):
    """A message that is not a billing CloudEvent: it can never make a delivery."""


def parse(body: bytes) -> tuple[uuid.UUID, uuid.UUID, str, str]:
    """(tenant id, event id, event type, body as text) of a CloudEvent, or InvalidEvent."""
    try:
        text = body.decode()
        event = json.loads(text)
        return uuid.UUID(event["tenantid"]), uuid.UUID(event["id"]), event_type_of(str(event["type"])), text
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise InvalidEvent(f"not a billing CloudEvent: {exc!r}"[:300]) from None


class Intake:
    def __init__(self, deliveries: WebhookDeliveries, recorded: Callable[[], None]) -> None:
        self._deliveries = deliveries
        self._recorded = recorded

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            tenant_id, event_id, event_type, text = parse(message.body)
        except InvalidEvent as exc:
            log.error("event parked", extra={"message_id": message.message_id, "reason": str(exc)})
            await message.reject(requeue=False)  # dead-lettered to billing.parking
            return
        try:
            made = await self._deliveries.record(tenant_id, event_id, event_type, text)
        except Exception as exc:
            log.warning("could not record webhook deliveries; the event goes back", extra={"error": repr(exc)[:500]})
            await asyncio.sleep(RETRY_PAUSE_S)
            await message.reject(requeue=True)  # reject (not nack): counted toward the queue's delivery limit
            return
        # Acked only once the deliveries are committed; a redelivery after a crash adds none (unique per endpoint).
        await message.ack()
        if made:
            self._recorded()
