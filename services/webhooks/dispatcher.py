"""Leases due deliveries from PostgreSQL and sends them, within a global and a per-endpoint cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from services.webhooks.sender import Sender
from shared import metrics
from shared.domain.webhooks import ATTEMPT_TIMEOUT_S, DISABLE_AFTER, Verdict, retry_delay
from shared.persistence.webhooks import ClaimedDelivery, WebhookDeliveries

log = logging.getLogger(__name__)

LEASE_S = ATTEMPT_TIMEOUT_S + 5.0
"""A leased delivery is not offered again before this: longer than an attempt, so replicas never send it twice
while it is in flight; a worker killed mid-attempt leaves it due again this much later."""
POLL_S = 0.5
"""How often due retries are looked for when nothing wakes the dispatcher sooner."""
COALESCE_S = 0.005
"""After a wake-up with attempts still in flight, this pause lets completions that arrive together share a claim."""


class Dispatcher:
    """Every delivery is its own task, so a slow endpoint only ever holds its own (capped) share of the slots."""

    def __init__(
        self,
        deliveries: WebhookDeliveries,
        sender: Sender,
        schedule: Sequence[float],
        concurrency: int,
        per_endpoint: int,
        poll_s: float = POLL_S,
    ) -> None:
        self._deliveries = deliveries
        self._sender = sender
        self._schedule = tuple(schedule)
        self._concurrency = concurrency
        self._per_endpoint = per_endpoint
        self._poll_s = poll_s
        self._in_flight: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        """Set when new deliveries were recorded or a slot came free: look for due ones now."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wake.clear()
            free = self._concurrency - len(self._in_flight)
            if free > 0:
                try:
                    claimed = await self._deliveries.claim(free, self._per_endpoint, LEASE_S)
                except Exception as exc:  # the next poll tries again; the deliveries wait in PostgreSQL
                    log.warning("could not lease due webhook deliveries", extra={"error": repr(exc)[:500]})
                    claimed = []
                for delivery in claimed:
                    self._start(delivery)
                if claimed and len(claimed) == free:
                    continue  # there may be more due at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(self.wake, stop), timeout=self._poll_s)
            if self._in_flight and not stop.is_set():
                await asyncio.sleep(COALESCE_S)
        await self.drain()

    async def drain(self) -> None:
        """Let the attempts under way finish (each is cut at 10 s) and write down what they got."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _start(self, delivery: ClaimedDelivery) -> None:
        task = asyncio.create_task(self.deliver(delivery))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.wake.set()

    async def deliver(self, delivery: ClaimedDelivery) -> None:
        """Send once and write the attempt down; a failure to write leaves the lease to run out (sent again)."""
        attempt, verdict = await self._sender.send(delivery)
        metrics.WEBHOOK_LATENCY.observe(attempt.duration_ms / 1000)
        outcome = verdict.value
        try:
            if verdict is Verdict.DELIVERED:
                await self._deliveries.delivered(delivery, attempt)
            elif verdict is Verdict.GONE:
                if await self._deliveries.gone(delivery, attempt):
                    log.warning("webhook endpoint disabled: it answered 410 Gone", extra=_ids(delivery))
            else:
                delay = retry_delay(self._schedule, delivery.attempt_count + 1)
                outcome = "retry" if delay is not None else "failed"
                if await self._deliveries.failed(delivery, attempt, delay, DISABLE_AFTER.total_seconds()):
                    log.warning("webhook endpoint disabled: every attempt failed for days", extra=_ids(delivery))
        except Exception as exc:
            log.error("could not record a webhook attempt", extra={**_ids(delivery), "error": repr(exc)[:500]})
            outcome = "unrecorded"
        metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "webhook attempt",
                extra={
                    **_ids(delivery),
                    "outcome": outcome,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                },
            )


def _ids(delivery: ClaimedDelivery) -> dict[str, str]:
    return {
        "tenant_id": str(delivery.tenant_id),
        "endpoint_id": str(delivery.endpoint_id),
        "delivery_id": str(delivery.id),
        "event_id": str(delivery.event_id),
    }


async def _first(*events: asyncio.Event) -> None:
    """Return as soon as any of the events is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
