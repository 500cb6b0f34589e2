"""Caches kept honest by PostgreSQL's notices: dropped at each change, distrusted while the LISTEN is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.database import raw_dsn
from shared.persistence.notices import REPORTING_CHANNEL, NoticedCache
from shared.persistence.tables import tenants
from shared.settings import Settings
from tests.support.world import TenantWorld


class Cache(NoticedCache[str, str | None]):
    """Remembers each change of trust the watch reported."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_changes: list[bool] = []

    def listening(self, now: bool) -> None:
        self.trust_changes.append(now)
        super().listening(now)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the timeout"
        await asyncio.sleep(0.02)


@pytest.fixture
async def watched(settings: Settings) -> AsyncIterator[Cache]:
    cache = Cache()
    watch = cache.watch(raw_dsn(settings.database_url), REPORTING_CHANNEL)
    watch_check_s = 0.05
    watch._check_s = watch_check_s  # notice a dropped connection quickly
    stop = asyncio.Event()
    running = asyncio.create_task(watch.run(stop))
    await until(lambda: cache.trusted)
    yield cache
    stop.set()
    await running


class Reads:
    """The tenant's reporting currency as the cache's loader reads it, counting the reads."""

    def __init__(self, engine: AsyncEngine, tenant: TenantWorld) -> None:
        self.engine = engine
        self.tenant = tenant
        self.count = 0

    async def __call__(self) -> str | None:
        self.count += 1
        async with self.engine.connect() as conn:
            query = text("SELECT reporting_currency FROM tenants WHERE id = :id")
            value: str | None = (await conn.execute(query, {"id": self.tenant.tenant_id})).scalar()
            return value

    async def book_in(self, currency: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(tenants).where(tenants.c.id == self.tenant.tenant_id).values(reporting_currency=currency)
            )


async def test_a_change_committed_elsewhere_drops_the_cached_value(
    watched: Cache, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    reads = Reads(engine, tenant)
    generation = watched._generation
    await reads.book_in("EUR")
    await until(lambda: watched._generation > generation)
    assert await watched.get("k", reads) == "EUR"
    assert await watched.get("k", reads) == "EUR"
    assert reads.count == 1, "the second get is served from the cache"

    await reads.book_in("USD")
    await until(lambda: "k" not in watched._entries)
    assert await watched.get("k", reads) == "USD"
    assert reads.count == 2


async def test_a_value_read_while_a_change_commits_is_not_kept(
    watched: Cache, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    reads = Reads(engine, tenant)
    await reads.book_in("EUR")
    generation = watched._generation

    async def read_then_change() -> str | None:
        value = await reads()
        await reads.book_in("GBP")  # committed after the read, before the value is stored
        await until(lambda: watched._generation > generation)
        return value

    assert await watched.get("k", read_then_change) == "EUR"
    assert await watched.get("k", reads) == "GBP", "the stale read was not kept"


async def test_while_the_listen_is_lost_nothing_is_trusted_and_it_comes_back(
    watched: Cache, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    reads = Reads(engine, tenant)
    await watched.get("k", reads)
    async with engine.begin() as conn:
        killed = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query = 'LISTEN \"billing_reporting\"' AND pid <> pg_backend_pid()"
            )
        )
        assert killed.all(), "the watch's connection was found"
    await until(lambda: watched.trust_changes[-2:] == [False, True])  # distrusted at once, then listening again
    generation = watched._generation
    await reads.book_in("JPY")
    await until(lambda: watched._generation > generation)  # heard through the new connection
    before = reads.count
    assert await watched.get("k", reads) == "JPY"
    assert await watched.get("k", reads) == "JPY"
    assert reads.count == before + 1
