"""The nightly reconciliation: yesterday (UTC) of every account whose gateway has an API source."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import Clock
from shared.gateways.registry import GatewayRegistry
from shared.persistence import maintenance
from shared.persistence.repositories import account_from_row
from shared.reconciliation.engine import Reconciler
from shared.reconciliation.runs import queue_run
from shared.reconciliation.sources import ApiReconciliation
from shared.security.cipher import Cipher

log = logging.getLogger(__name__)


class NightlyReconciliation:
    def __init__(
        self,
        engine: AsyncEngine,
        reconciler: Reconciler,
        registry: GatewayRegistry,
        cipher: Cipher,
        clock: Clock,
        hour_utc: int = 2,
    ) -> None:
        self._engine = engine
        self._reconciler = reconciler
        self._registry = registry
        self._cipher = cipher
        self._clock = clock
        self._hour_utc = hour_utc
        self._done_for: date | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # tomorrow is another night; tonight retries at the next tick
                log.warning("nightly reconciliation failed", extra={"error": repr(exc)[:500]})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=60)

    async def tick(self) -> int:
        """Reconcile yesterday once it is past the hour; the unique nightly run keeps replicas from doubling it."""
        now = self._clock()
        if now.hour < self._hour_utc:
            return 0
        yesterday = now.date() - timedelta(days=1)
        if self._done_for == yesterday:
            return 0
        start = datetime.combine(yesterday, time.min, tzinfo=now.tzinfo)
        end = start + timedelta(days=1) - timedelta(microseconds=1)
        gateways = [a.name for a in self._registry.all() if isinstance(a, ApiReconciliation)]
        started = 0
        for row in await maintenance.accounts_of(self._engine, gateways):
            account = account_from_row(row, self._cipher)
            run_id = await queue_run(self._engine, account, start, end, nightly=True)
            if run_id is not None:
                started += 1
                await self._reconciler.run(account.tenant_id, run_id)
        self._done_for = yesterday
        return started
