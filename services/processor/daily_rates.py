"""The scheduled fetch of the day's exchange rates: once a day per source, whichever replica claims it first."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from shared import metrics
from shared.clock import Clock
from shared.persistence.rates import claim_fetch, fetch_done, finish_fetch, record_rates
from shared.rates.sources import RateSource

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)
"""A claim older than this, not done, belongs to a replica that failed or died: another may take it over."""
PAUSE = timedelta(minutes=1)
"""Between two attempts of one replica while the day's fetch is not done."""


class DailyRates:
    def __init__(self, engine: AsyncEngine, source: RateSource, clock: Clock) -> None:
        self._engine = engine
        self._source = source
        self._clock = clock
        self._done_for: date | None = None
        self._next_try: datetime | None = None

    async def tick(self) -> bool:
        """Fetch and store today's (UTC) rates unless done already; True when this call stored them."""
        now = self._clock()
        today = now.date()
        if self._done_for == today or (self._next_try is not None and now < self._next_try):
            return False
        self._next_try = now + PAUSE
        name = self._source.name
        if not await claim_fetch(self._engine, name, today, LEASE):
            if await fetch_done(self._engine, name, today):
                self._done_for = today
            return False
        try:
            rates = await self._source.fetch(today)
            recorded = await record_rates(self._engine, rates, source=name, actor="scheduler")
        except Exception as exc:  # the claim lapses after LEASE and the fetch is tried again
            log.warning("exchange rates fetch failed", extra={"source": name, "error": repr(exc)[:500]})
            metrics.RATES_FETCHES.labels(name, "failed").inc()
            return False
        await finish_fetch(self._engine, name, today, json.dumps(recorded.view()))
        metrics.RATES_FETCHES.labels(name, "stored").inc()
        self._done_for = today
        log.info("exchange rates fetched", extra={"source": name, "day": today.isoformat(), **recorded.view()})
        return True
