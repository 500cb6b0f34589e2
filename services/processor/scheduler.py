"""The scheduler: expires overdue pending transactions and prunes processed bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.handlers import TransactionHandlers
from shared.clock import Clock
from shared.persistence import maintenance

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, engine: AsyncEngine, handlers: TransactionHandlers, clock: Clock, interval_s: float) -> None:
        self._engine = engine
        self._handlers = handlers
        self._clock = clock
        self._interval_s = interval_s

    async def run(self, stop: asyncio.Event) -> None:
        ticks = 0
        while not stop.is_set():
            try:
                await self.expire_overdue()
                if ticks % 720 == 0:
                    await maintenance.purge_processed(self._engine, self._clock())
            except Exception:  # the sweep runs again next tick; one bad tick must not stop it
                log.exception("scheduler tick failed")
            ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_s)

    async def expire_overdue(self) -> int:
        """Expire every overdue pending transaction; safe beside other replicas (each expiry locks its row)."""
        expired = 0
        for tenant_id, transaction_id in await maintenance.overdue_pending(self._engine, self._clock()):
            if await self._handlers.expire(tenant_id, transaction_id):
                expired += 1
        return expired
