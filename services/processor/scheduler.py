"""The scheduler: expires overdue pending transactions and prunes processed bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.handlers import TransactionHandlers
from shared.clock import Clock
from shared.persistence import maintenance

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        handlers: TransactionHandlers,
        clock: Clock,
        interval_s: float,
        polled_gateways: list[str],
        janitor_after: timedelta = timedelta(seconds=30),
    ) -> None:
        self._engine = engine
        self._handlers = handlers
        self._clock = clock
        self._interval_s = interval_s
        self._polled_gateways = polled_gateways
        self._janitor_after = janitor_after
        self._next_ask: dict[uuid.UUID, tuple[datetime, timedelta]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        ticks = 0
        while not stop.is_set():
            try:
                await self.expire_overdue()
                await self.ask_providers()
                if ticks % 720 == 0:
                    await maintenance.purge_processed(self._engine, self._clock())
            except Exception as exc:  # the sweep runs again next tick; one bad tick must not stop it
                log.warning("scheduler tick failed", extra={"error": repr(exc)[:500]})
            ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)

    async def ask_providers(self) -> None:
        """Heal lost webhooks and crashes between a provider call and its record, by asking the provider."""
        now = self._clock()
        stale = await maintenance.stale_pending(self._engine, self._polled_gateways, now - self._janitor_after)
        self._next_ask = {tx_id: due for tx_id, due in self._next_ask.items() if tx_id in {t for _, t in stale}}
        for tenant_id, transaction_id in stale:
            due, gap = self._next_ask.get(transaction_id, (now, self._janitor_after))
            if due > now:
                continue
            # Ask again later and later (up to hourly) while the provider keeps saying "pending".
            self._next_ask[transaction_id] = (now + gap, min(gap * 2, timedelta(hours=1)))
            try:
                await self._handlers.sync_with_provider(tenant_id, transaction_id)
            except Exception:  # one provider's trouble must not stop the sweep of the others
                log.warning("janitor could not reach the provider", extra={"transaction_id": str(transaction_id)})

    async def expire_overdue(self) -> int:
        """Expire every overdue pending transaction; safe beside other replicas (each expiry locks its row)."""
        expired = 0
        for tenant_id, transaction_id in await maintenance.overdue_pending(self._engine, self._clock()):
            if await self._handlers.expire(tenant_id, transaction_id):
                expired += 1
        return expired
