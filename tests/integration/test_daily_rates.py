"""The daily rate fetch: the CBU source over real HTTP (a local fake), retries, and one fetch across replicas."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.app import bootstrap
from services.processor.daily_rates import DailyRates
from shared.persistence.rates import rates_in_force
from shared.persistence.tables import exchange_rates
from shared.rates.sources import CbuSource, RatesUnavailable, RetryPolicy, configured_source, load_source
from shared.security.egress import UnsafeDestination
from shared.settings import ConfigurationError, Settings
from tests.support.fakes.cbu import CbuFake

FAST = RetryPolicy(attempts=3, multiplier_s=0.01, max_wait_s=0.05, timeout_s=5.0)


@pytest.fixture
def cbu() -> Iterator[CbuFake]:
    fake = CbuFake()
    fake.start()
    yield fake
    fake.stop()


def some_day() -> date:
    return date(1950, 1, 1) + timedelta(days=random.randrange(10_000))


async def test_the_cbu_source_reads_the_list_and_divides_the_nominal_out(cbu: CbuFake) -> None:
    day = some_day()
    cbu.publish(day, {"USD": ("12650.12", 1), "KRW": ("87.12", 10)})
    rates = await CbuSource(cbu.url, policy=FAST, allow_private=True).fetch(day)
    assert {(r.currency, r.quote, r.day, r.rate, r.nominal) for r in rates} == {
        ("USD", "UZS", day, Decimal("12650.12"), 1),
        ("KRW", "UZS", day, Decimal("87.12"), 10),
    }
    assert cbu.requests == [f"/uz/arkhiv-kursov-valyut/json/all/{day.isoformat()}/"]


async def test_a_5xx_is_retried_and_a_lasting_one_gives_up(cbu: CbuFake) -> None:
    day = some_day()
    cbu.publish(day, {"USD": ("12650.12", 1)})
    cbu.failures = [503, 502]
    source = CbuSource(cbu.url, policy=FAST, allow_private=True)
    assert [r.currency for r in await source.fetch(day)] == ["USD"]
    assert len(cbu.requests) == 3
    cbu.failures = [500, 500, 500]
    with pytest.raises(RatesUnavailable, match="HTTP 500"):
        await source.fetch(day)
    cbu.failures = [404]
    with pytest.raises(RatesUnavailable, match="HTTP 404"):
        await source.fetch(day)
    assert len(cbu.requests) == 7, "a 4xx is not retried"


def test_the_source_is_a_plug_in_and_its_url_is_checked() -> None:
    assert isinstance(load_source("cbu", None), CbuSource)
    with pytest.raises(ValueError, match="unknown rate source 'ecb'; known: cbu"):
        load_source("ecb", None)
    with pytest.raises(UnsafeDestination):
        CbuSource("http://127.0.0.1:9/rates/{date}/", allow_private=False)


async def test_one_replica_fetches_once_a_day_and_stores_the_rates(cbu: CbuFake, engine: AsyncEngine) -> None:
    day = some_day()
    cbu.publish(day, {"USD": ("12650.12", 1), "EUR": ("13500.55", 1)})
    source = CbuSource(cbu.url, policy=FAST, allow_private=True)
    now = datetime.combine(day, time(6), tzinfo=UTC)
    replicas = [DailyRates(engine, source, lambda: now) for _ in range(3)]
    stored = await asyncio.gather(*(replica.tick() for replica in replicas))
    assert sorted(stored) == [False, False, True]
    assert len(cbu.requests) == 1
    assert not any([await replica.tick() for replica in replicas]), "done for the day"
    in_force = await rates_in_force(engine, day, "UZS")
    assert {code: str(rate) for code, (_, rate) in in_force.items()} == {"USD": "316253/25", "EUR": "270011/20"}
    async with engine.connect() as conn:
        who = (
            await conn.execute(
                select(exchange_rates.c.source, exchange_rates.c.actor).where(exchange_rates.c.day == day)
            )
        ).all()
    assert set(who) == {("cbu", "scheduler")}


async def test_a_failed_fetch_is_tried_again_once_its_claim_lapses(cbu: CbuFake, engine: AsyncEngine) -> None:
    day = some_day()
    cbu.publish(day, {"USD": ("12650.12", 1)})
    cbu.failures = [503, 503, 503]
    source = CbuSource(cbu.url, policy=FAST, allow_private=True)
    clock = [datetime.combine(day, time(6), tzinfo=UTC)]
    replica = DailyRates(engine, source, lambda: clock[0])
    assert not await replica.tick()
    clock[0] += timedelta(minutes=2)
    assert not await replica.tick(), "the claim of the failed attempt still holds"
    assert len(cbu.requests) == 3
    async with engine.begin() as conn:  # the lease is measured by the database's clock
        from sqlalchemy import text

        await conn.execute(
            text("UPDATE rate_fetches SET claimed_at = claimed_at - interval '11 minutes' WHERE day = :day"),
            {"day": day},
        )
    clock[0] += timedelta(minutes=2)
    assert await replica.tick()
    assert "USD" in await rates_in_force(engine, day, "UZS")


async def test_the_processor_s_scheduler_fetches_from_the_configured_source(
    cbu: CbuFake, engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_PROVIDERS_ALLOW_PRIVATE", "true")
    day = some_day()
    cbu.publish(day, {"USD": ("12650.12", 1), "KRW": ("87.12", 10)})
    configured = settings.model_copy(update={"rates_source": "cbu", "rates_url": cbu.url})
    processor = bootstrap(configured, clock=lambda: datetime.combine(day, time(9), tzinfo=UTC))
    stop = asyncio.Event()
    running = asyncio.create_task(processor.scheduler.run(stop))
    try:
        for _ in range(100):
            if "USD" in await rates_in_force(engine, day, "UZS"):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await running
    found = await rates_in_force(engine, day, "UZS")
    assert {code: str(rate) for code, (_, rate) in found.items()} == {"USD": "316253/25", "KRW": "1089/125"}
    assert cbu.requests == [f"/uz/arkhiv-kursov-valyut/json/all/{day.isoformat()}/"]


def test_a_bad_rate_source_stops_the_processor_with_one_line_naming_the_variable(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match=r"^BILLING_RATES_SOURCE: unknown rate source 'ecb'"):
        configured_source(settings.model_copy(update={"rates_source": "ecb"}))
    with pytest.raises(ConfigurationError, match=r"^BILLING_RATES_URL: must be an https URL"):
        configured_source(settings.model_copy(update={"rates_source": "cbu", "rates_url": "ftp://cbu.uz/{date}"}))
    assert configured_source(settings) is None, "off unless the operator names a source"
