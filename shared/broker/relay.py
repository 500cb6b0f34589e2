"""The outbox relay: publishes committed events to billing.events with confirms, then marks them sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared import metrics, tracing
from shared.broker.publisher import BrokerUnavailable, ConfirmedPublisher
from shared.broker.topology import WEBHOOKS_ROUTING_KEY
from shared.messages import EVENTS_EXCHANGE
from shared.persistence.errors import DatabaseUnavailable
from shared.persistence.notices import OUTBOX_CHANNEL, Watch
from shared.persistence.outbox import OutboxStore, UnsentEvent

log = logging.getLogger(__name__)

MEASURE_EVERY_S = 1.0
"""The backlog query runs at most this often, however many drains a busy second has."""


class OutboxRelay:
    """At-least-once: a row is marked sent only after RabbitMQ confirmed it; replicas split the transactions."""

    def __init__(self, engine: AsyncEngine, publisher: ConfirmedPublisher, listen_dsn: str, batch: int = 200) -> None:
        self._outbox = OutboxStore(engine)
        self._publisher = publisher
        self._listen_dsn = listen_dsn
        self._batch = batch
        self._wake = asyncio.Event()
        self._measured_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        # Woken by each commit that wrote events, and whenever the LISTEN comes (back) into place, for what was
        # committed while nothing listened; until then, and while PostgreSQL is away, polling every second.
        watch = Watch(self._listen_dsn, OUTBOX_CHANNEL, self._wake.set, lambda _listening: self._wake.set())
        watching = asyncio.create_task(watch.run(stop))
        try:
            while not stop.is_set():
                # Cleared before draining: a NOTIFY that lands during the drain wakes the next round at once.
                self._wake.clear()
                try:
                    sent = await self.drain_once()
                except (BrokerUnavailable, DatabaseUnavailable) as exc:
                    log.warning("outbox relay: %s; retrying", exc)
                    sent = 0
                    await asyncio.sleep(1.0)
                await self._measure()
                if sent >= self._batch:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
        finally:
            if not stop.is_set():
                watching.cancel()  # the loop itself failed or was cancelled: the watch would wait for `stop`
            with contextlib.suppress(asyncio.CancelledError):
                await watching

    async def _measure(self) -> None:
        """Outbox lag and backlog for /metrics; also while RabbitMQ is down, when they matter most."""
        now = time.monotonic()
        if now - self._measured_at < MEASURE_EVERY_S:
            return
        self._measured_at = now
        try:
            unsent, lag = await self._outbox.backlog()
        except DatabaseUnavailable as exc:
            log.warning("outbox relay cannot measure the backlog: %s", exc)
            return
        metrics.OUTBOX_UNSENT.set(unsent)
        metrics.OUTBOX_LAG.set(lag)

    async def drain_once(self) -> int:
        async with self._outbox.unsent(self._batch) as batch:
            if not batch.events:
                return 0
            by_subject: dict[str, list[UnsentEvent]] = defaultdict(list)
            for event in batch.events:
                by_subject[str(event.subject)].append(event)
            # Events of one transaction go out in order; different transactions go out side by side.
            await asyncio.gather(*(self._publish_in_order(group) for group in by_subject.values()))
            await batch.mark_sent()
        for event in batch.events:
            metrics.EVENTS_RELAYED.labels(event.routing_key).inc()
        return len(batch.events)

    async def _publish_in_order(self, events: list[UnsentEvent]) -> None:
        for event in events:
            # The event's publish joins the trace of the change that produced it (CloudEvents `traceparent`).
            with tracing.span("outbox relay", tracing.SpanKind.INTERNAL, parent=event.trace):
                await self._publisher.publish(
                    EVENTS_EXCHANGE,
                    event.routing_key,
                    event.body.encode(),
                    message_id=event.event_id,
                    mandatory=False,
                    content_type="application/cloudevents+json",
                    headers=_headers(event),
                )


def _headers(event: UnsentEvent) -> dict[str, Any]:
    """The consumers' headers; an event some merchant endpoint wants is also routed to the webhooks worker's queue
    (RabbitMQ's sender-selected `CC`: one publish, one confirm, the routing key consumers bind to unchanged)."""
    headers: dict[str, Any] = {"tenantid": event.tenant_id or "", "subject": event.subject or ""}
    if event.webhooks:
        headers["CC"] = [WEBHOOKS_ROUTING_KEY]
    return headers
