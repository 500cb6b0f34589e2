"""The scheduler: expires overdue pending transactions, asks providers about stale ones, prunes bookkeeping
(and gateway calls older than BILLING_WEBHOOK_LOG_DAYS),
and fetches the day's exchange rates when a rate source is configured.

Expiry and the provider janitor run as separate loops, so a slow provider never delays an expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.daily_rates import DailyRates
from services.processor.handlers import TransactionHandlers
from shared.clock import Clock
from shared.persistence import maintenance

log = logging.getLogger(__name__)
JANITOR_CANDIDATES = 2000
JANITOR_PER_TICK = 100
JANITOR_CONCURRENCY = 8
MAX_GAP = timedelta(hours=1)


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        handlers: TransactionHandlers,
        clock: Clock,
        interval_s: float,
        polled_gateways: list[str],
        janitor_after: timedelta = timedelta(seconds=30),
        daily_rates: DailyRates | None = None,
        webhook_log_keep: timedelta = timedelta(days=90),
        gateway_ticks: list[Callable[[], Awaitable[object]]] | None = None,
    ) -> None:
        self._engine = engine
        self._handlers = handlers
        self._clock = clock
        self._interval_s = interval_s
        self._polled_gateways = polled_gateways
        self._janitor_after = janitor_after
        self._next_ask: dict[uuid.UUID, tuple[datetime, timedelta]] = {}
        self._daily_rates = daily_rates
        self._webhook_log_keep = webhook_log_keep
        self._gateway_ticks = gateway_ticks or []

    async def run(self, stop: asyncio.Event) -> None:
        loops = [self._every_tick(stop, self._expiry_tick), self._every_tick(stop, self.ask_providers)]
        if self._daily_rates is not None:
            loops.append(self._every_tick(stop, self._daily_rates.tick))
        loops.extend(self._every_tick(stop, tick) for tick in self._gateway_ticks)
        await asyncio.gather(*loops)

    async def _every_tick(self, stop: asyncio.Event, tick: Callable[[], Awaitable[object]]) -> None:
        while not stop.is_set():
            try:
                await tick()
            except Exception as exc:  # the sweep runs again next tick; one bad tick must not stop it
                log.warning("scheduler tick failed", extra={"error": repr(exc)[:500]})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)

    async def _expiry_tick(self) -> None:
        await self.expire_overdue()
        now = self._clock()
        # Every tick, a bounded batch: an index range scan that is empty almost always (BILLING_WEBHOOK_LOG_DAYS).
        await maintenance.purge_webhook_log(self._engine, now - self._webhook_log_keep)
        if now.minute == 0 and now.second < self._interval_s:  # about hourly
            await maintenance.purge_processed(self._engine, now)

    async def ask_providers(self) -> int:
        """Heal lost webhooks and crashes between a provider call and its record, by asking the provider.

        Each payment is asked again later and later (up to hourly) while the provider says "pending"; the
        candidates are many more than one tick handles, so payments in backoff never crowd out due ones.
        """
        now = self._clock()
        stale = await maintenance.stale_pending(
            self._engine, self._polled_gateways, now - self._janitor_after, limit=JANITOR_CANDIDATES
        )
        stale_ids = {transaction_id for _, transaction_id in stale}
        self._next_ask = {tx_id: due for tx_id, due in self._next_ask.items() if tx_id in stale_ids}
        due = [(t, x) for t, x in stale if self._next_ask.get(x, (now, self._janitor_after))[0] <= now]
        due = due[:JANITOR_PER_TICK]
        for _, transaction_id in due:
            _, gap = self._next_ask.get(transaction_id, (now, self._janitor_after))
            self._next_ask[transaction_id] = (now + gap, min(gap * 2, MAX_GAP))
        limit = asyncio.Semaphore(JANITOR_CONCURRENCY)

        async def ask(tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> None:
            async with limit:
                try:
                    await self._handlers.sync_with_provider(tenant_id, transaction_id)
                except Exception as exc:  # one provider's trouble must not stop the sweep of the others
                    log.warning(
                        "janitor could not reach the provider",
                        extra={"transaction_id": str(transaction_id), "error": repr(exc)[:300]},
                    )

        await asyncio.gather(*(ask(tenant_id, transaction_id) for tenant_id, transaction_id in due))
        return len(due)

    async def expire_overdue(self) -> int:
        """Expire every overdue pending transaction; safe beside other replicas (each expiry locks its row)."""
        expired = 0
        for tenant_id, transaction_id in await maintenance.overdue_pending(self._engine, self._clock()):
            if await self._handlers.expire(tenant_id, transaction_id):
                expired += 1
        return expired
