"""Rates in PostgreSQL and the conversion stored with each change: row, event and audit agree for ever."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import metrics
from shared.domain.exchange import Rate
from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.persistence.rates import rates_in_force, record_rates
from shared.persistence.tables import audit_log, exchange_rates, outbox, tenants, transactions
from tests.integration.conftest import UowFactory
from tests.support.world import TenantWorld


def unused_day() -> date:
    """Rates are the whole service's: each test books on a day of its own."""
    return date(1990, 1, 1) + timedelta(days=random.randrange(20_000))


def moment(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def book_in(engine: AsyncEngine, tenant: TenantWorld, currency: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(tenants).where(tenants.c.id == tenant.tenant_id).values(reporting_currency=currency))


async def stored(engine: AsyncEngine, transaction_id: uuid.UUID) -> tuple[Any, list[Any], list[Any]]:
    """The row's conversion, each audit row's `after`, and each event's `data`."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(transactions.c.reporting).where(transactions.c.id == transaction_id))).one()
        audits = (
            await conn.execute(
                select(audit_log.c.after).where(audit_log.c.transaction_id == transaction_id).order_by(audit_log.c.id)
            )
        ).scalars()
        events = (
            await conn.execute(
                select(outbox.c.body)
                .where(outbox.c.body["subject"].astext == str(transaction_id))
                .order_by(outbox.c.id)
            )
        ).scalars()
        return row.reporting, list(audits), [e["data"] for e in events]


def cash(tenant: TenantWorld, minor: int, currency: str, at: datetime) -> Transaction:
    return Transaction.open(
        id=uuid.uuid4(),
        tenant_id=tenant.tenant_id,
        account_id=tenant.accounts["cash"],
        gateway="cash",
        money=Money.of(minor, currency),
        details={},
        metadata={},
        at=at,
    )


async def test_each_change_is_stored_with_the_rate_of_its_day_and_a_later_correction_moves_nothing(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    paid_on = unused_day()
    await record_rates(engine, [Rate.of(paid_on - timedelta(days=1), "USD", "UZS", "12600")], source="t", actor="t")
    await record_rates(engine, [Rate.of(paid_on, "USD", "UZS", "12650.12")], source="t", actor="t")
    tx = cash(tenant, 10_000, "USD", moment(paid_on - timedelta(days=1)))
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="test", request_id=None)
    async with uow_factory() as uow:
        loaded = await uow.transactions(tenant.tenant_id).get(tx.id)
        assert loaded is not None
        loaded.complete(moment(paid_on))
        await uow.commit(actor="test", request_id=None)

    created = {"currency": "UZS", "amount": 126_000_000, "rate": "12600", "rate_date": str(paid_on - timedelta(1))}
    completed = {"currency": "UZS", "amount": 126_501_200, "rate": "12650.12", "rate_date": str(paid_on)}
    row, audits, events = await stored(engine, tx.id)
    assert row == completed
    assert [a["reporting"] for a in audits] == [created, completed]
    assert [e["reporting"] for e in events] == [created, completed]
    assert [e["status"] for e in events] == ["pending", "completed"]

    recorded = await record_rates(engine, [Rate.of(paid_on, "USD", "UZS", "13000")], source="fix", actor="t")
    assert (recorded.corrected, recorded.added) == (1, 0)
    async with uow_factory(read_only=True) as uow:  # type: ignore[call-arg]
        again = await uow.transactions(tenant.tenant_id).get(tx.id, lock=False)
    assert again is not None and again.view()["reporting"] == completed
    assert (await stored(engine, tx.id))[0] == completed


async def test_a_stale_rate_leaves_the_conversion_null_and_counts_a_warning(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    day = unused_day()
    await book_in(engine, tenant, "EUR")
    await record_rates(engine, [Rate.of(day - timedelta(days=8), "EUR", "UZS", "13000")], source="t", actor="t")
    missing = metrics.REPORTING_RATE_MISSING.labels("UZS", "EUR")
    before = missing._value.get()
    tx = cash(tenant, 100_000, "UZS", moment(day))
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="test", request_id=None)
    row, audits, events = await stored(engine, tx.id)
    assert row is None and audits[0]["reporting"] is None and events[0]["reporting"] is None
    assert missing._value.get() == before + 1


async def test_a_cross_rate_into_a_reporting_currency_that_is_not_the_quote(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    day = unused_day()
    await book_in(engine, tenant, "USD")
    rates = [Rate.of(day, "USD", "UZS", "12650.12"), Rate.of(day, "EUR", "UZS", "13500")]
    await record_rates(engine, rates, source="t", actor="t")
    tx = cash(tenant, 10_000, "EUR", moment(day, 23))
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="test", request_id=None)
    row, _, _ = await stored(engine, tx.id)
    assert row["currency"] == "USD" and row["amount"] == 10_672 and row["rate_date"] == str(day)


async def test_the_same_currency_is_reported_at_one_without_any_rate(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    day = unused_day()
    tx = cash(tenant, 1_500_000, "UZS", moment(day))
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="test", request_id=None)
    row, _, _ = await stored(engine, tx.id)
    assert row == {"currency": "UZS", "amount": 1_500_000, "rate": "1", "rate_date": str(day)}


async def test_rates_are_appended_never_overwritten(engine: AsyncEngine) -> None:
    day = unused_day()
    first = await record_rates(
        engine, [Rate.of(day, "USD", "UZS", "12650.12"), Rate.of(day, "KRW", "UZS", "87.12", 10)], source="a", actor="x"
    )
    assert first.view() == {"added": 2, "corrected": 0, "unchanged": 0}
    # The same rate again (KRW per unit is unchanged although written per one) adds nothing.
    repeat = await record_rates(
        engine, [Rate.of(day, "USD", "UZS", "12650.12"), Rate.of(day, "KRW", "UZS", "8.712")], source="b", actor="y"
    )
    assert repeat.view() == {"added": 0, "corrected": 0, "unchanged": 2}
    fix = await record_rates(engine, [Rate.of(day, "USD", "UZS", "12651")], source="manual", actor="cli:alice")
    assert fix.view() == {"added": 0, "corrected": 1, "unchanged": 0}
    async with engine.connect() as conn:
        kept = (
            await conn.execute(
                select(exchange_rates.c.rate, exchange_rates.c.source, exchange_rates.c.actor)
                .where(exchange_rates.c.day == day, exchange_rates.c.currency == "USD")
                .order_by(exchange_rates.c.id)
            )
        ).all()
    assert [(str(r.rate), r.source, r.actor) for r in kept] == [
        ("12650.12", "a", "x"),
        ("12651", "manual", "cli:alice"),
    ]
    in_force = await rates_in_force(engine, day + timedelta(days=2), "UZS")
    assert in_force["USD"][0] == day and str(in_force["USD"][1]) == "12651"
    assert in_force["KRW"][1] * 1000 == 8712
