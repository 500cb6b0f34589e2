"""Payme's processor methods in-process on the real database: the row lock under a burst, and a clock we control."""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.handlers import TransactionHandlers
from shared.broker.rpc import GatewayCall
from shared.clock import utc_now
from shared.domain import commands
from shared.gateways.payme.handlers import PaymeCalls, wire
from shared.gateways.payme.records import TIMEOUT_MS, to_ms
from shared.gateways.processing import ProcessorDeps
from shared.gateways.registry import GatewayRegistry
from shared.persistence.tables import audit_log, outbox, transactions, webhook_log
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.integration.conftest import UowFactory
from tests.support.payme import payme_id, payme_tenant
from tests.support.world import TenantWorld


class Clock:
    """The processor's `now`, moved by the test.

    It starts at the real time: the end-to-end services of the same test session sweep this database with the
    real clock, and would expire (12 hours) an order whose times were set in the past.
    """

    def __init__(self) -> None:
        self.now = utc_now().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(
    uow_factory: UowFactory,
    registry: GatewayRegistry,
    clock: Clock,
    settings: Settings,
    engine: AsyncEngine,
    cipher: Cipher,
) -> ProcessorDeps:
    reader = functools.partial(UnitOfWork, engine, cipher, read_only=True)
    return ProcessorDeps(uow_factory, registry, clock, settings, engine, cipher, reader)


@pytest.fixture
def payme(deps: ProcessorDeps) -> PaymeCalls:
    wiring = wire(deps)
    assert wiring.gateway == "payme" and isinstance(wiring.calls, PaymeCalls)
    return wiring.calls


@pytest.fixture
async def world(engine: AsyncEngine, cipher: Cipher) -> TenantWorld:
    return await payme_tenant(engine, cipher)


async def open_order(deps: ProcessorDeps, world: TenantWorld, value: str) -> uuid.UUID:
    transaction_id = uuid.uuid4()
    await TransactionHandlers(deps.uow, deps.registry, deps.clock).create(
        commands.CreateTransaction(
            command_id=str(uuid.uuid4()),
            tenant_id=world.tenant_id,
            actor="tests",
            transaction_id=transaction_id,
            gateway="payme",
            account_id=world.accounts["payme"],
            amount=1_500_000,
            currency="UZS",
            details={"account": {"order_id": value}},
        )
    )
    return transaction_id


def call(world: TenantWorld, method: str, **params: Any) -> GatewayCall:
    return GatewayCall(
        gateway="payme", tenant_id=world.tenant_id, account_id=world.accounts["payme"], operation=method, params=params
    )


async def row(engine: AsyncEngine, transaction_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(transactions).where(transactions.c.id == transaction_id))).mappings().one()


async def count(engine: AsyncEngine, query: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_ten_identical_performs_at_once_wait_on_the_row_lock(
    payme: PaymeCalls, deps: ProcessorDeps, world: TenantWorld, engine: AsyncEngine, clock: Clock
) -> None:
    transaction_id = await open_order(deps, world, "burst")
    ours = payme_id()
    account = {"order_id": "burst"}
    await payme(call(world, "CreateTransaction", id=ours, time=to_ms(clock.now), amount=1_500_000, account=account))

    # Ten pooled connections first: otherwise the first call is done before the others have connected.
    checks = await asyncio.gather(*(payme(call(world, "CheckTransaction", id=ours)) for _ in range(10)))
    assert all(check.get("result", {}).get("state") == 1 for check in checks), checks

    answers = await asyncio.gather(*(payme(call(world, "PerformTransaction", id=ours)) for _ in range(10)))

    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0]["result"]["state"] == 2 and answers[0]["result"]["perform_time"] == to_ms(clock.now)
    stored = await row(engine, transaction_id)
    assert stored["status"] == "completed" and stored["version"] == 3  # create, Payme's create, perform
    completed = select(func.count()).where(
        outbox.c.body["subject"].astext == str(transaction_id), outbox.c.routing_key == "transaction.completed"
    )
    assert await count(engine, completed) == 1
    audited = select(func.count()).where(audit_log.c.transaction_id == transaction_id, audit_log.c.action == "complete")
    assert await count(engine, audited) == 1


async def test_identical_creates_at_once_record_one_payme_transaction(
    payme: PaymeCalls, deps: ProcessorDeps, world: TenantWorld, engine: AsyncEngine, clock: Clock
) -> None:
    transaction_id = await open_order(deps, world, "twins")
    params = {"id": payme_id(), "time": to_ms(clock.now), "amount": 1_500_000, "account": {"order_id": "twins"}}

    answers = await asyncio.gather(*(payme(call(world, "CreateTransaction", **params)) for _ in range(5)))

    assert all(answer == answers[0] for answer in answers) and answers[0]["result"]["state"] == 1
    assert (await row(engine, transaction_id))["version"] == 2, "one update for five calls"


async def test_perform_past_twelve_hours_expires_the_transaction_itself(
    payme: PaymeCalls, deps: ProcessorDeps, world: TenantWorld, engine: AsyncEngine, clock: Clock
) -> None:
    transaction_id = await open_order(deps, world, "late")
    created_at = to_ms(clock.now)
    ours = payme_id()
    create = call(world, "CreateTransaction", id=ours, time=created_at, amount=1_500_000, account={"order_id": "late"})
    await payme(create)
    stored = await row(engine, transaction_id)
    assert stored["expires_at"] == clock.now + timedelta(milliseconds=TIMEOUT_MS), "the scheduler's deadline"

    clock.now += timedelta(milliseconds=TIMEOUT_MS)
    assert (await payme(create))["result"]["state"] == 1, "exactly twelve hours is still in time"
    clock.now += timedelta(milliseconds=1)
    refused = await payme(call(world, "PerformTransaction", id=ours))
    assert refused["error"]["code"] == -31008 and refused["error"]["message"]["en"] == "The transaction has expired"

    stored = await row(engine, transaction_id)
    assert stored["status"] == "expired"
    assert stored["details"]["state"] == -1 and stored["details"]["reason"] == 4
    assert stored["details"]["cancel_time"] == created_at + TIMEOUT_MS + 1
    actors = select(audit_log.c.actor).where(
        audit_log.c.transaction_id == transaction_id, audit_log.c.action == "expire"
    )
    async with engine.connect() as conn:
        assert list((await conn.execute(actors)).scalars()) == [f"gateway:payme:{world.accounts['payme']}"]

    clock.now += timedelta(hours=1)
    again = await payme(create)
    assert again["error"]["code"] == -31008
    status = await payme(call(world, "CheckTransaction", id=ours))
    assert status["result"]["cancel_time"] == created_at + TIMEOUT_MS + 1, "stored once, never recomputed"


async def test_a_repeated_create_past_twelve_hours_cancels_with_reason_4(
    payme: PaymeCalls, deps: ProcessorDeps, world: TenantWorld, engine: AsyncEngine, clock: Clock
) -> None:
    transaction_id = await open_order(deps, world, "late-create")
    ours = payme_id()
    params = {"id": ours, "time": to_ms(clock.now), "amount": 1_500_000, "account": {"order_id": "late-create"}}
    await payme(call(world, "CreateTransaction", **params))
    clock.now += timedelta(hours=12, seconds=1)

    refused = await payme(call(world, "CreateTransaction", **params))

    assert refused["error"]["code"] == -31008
    stored = await row(engine, transaction_id)
    assert stored["status"] == "expired" and stored["details"]["reason"] == 4
    expired = select(func.count()).where(
        outbox.c.body["subject"].astext == str(transaction_id), outbox.c.routing_key == "transaction.expired"
    )
    assert await count(engine, expired) == 1


async def test_every_write_call_is_logged_with_what_we_answered(
    payme: PaymeCalls, deps: ProcessorDeps, world: TenantWorld, engine: AsyncEngine, clock: Clock
) -> None:
    await open_order(deps, world, "logged")
    ours = payme_id()
    params = {"id": ours, "time": to_ms(clock.now), "amount": 1_500_000, "account": {"order_id": "logged"}}
    assert "result" in await payme(call(world, "CreateTransaction", **params))
    refused = await payme(call(world, "PerformTransaction", id=payme_id()))  # a Payme id nobody created
    assert refused["error"]["code"] == -31003

    logged = select(webhook_log.c.message_id, webhook_log.c.outcome, webhook_log.c.payload).where(
        webhook_log.c.account_id == world.accounts["payme"]
    )
    async with engine.connect() as conn:
        rows = {row.message_id: row for row in (await conn.execute(logged)).all()}
    create = rows[f"payme:CreateTransaction:{ours}"]
    assert create.outcome == "ok" and create.payload["params"]["id"] == ours
    assert [row.outcome for key, row in rows.items() if key.startswith("payme:PerformTransaction:")] == ["-31003"]
