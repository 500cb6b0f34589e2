"""The handlers under concurrency on the real database: row locks, the inbox and the over-refund guard."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.handlers import TransactionHandlers
from services.refunds.handlers import RefundHandlers
from shared.clock import utc_now
from shared.domain import commands
from shared.domain.errors import TransitionNotAllowed
from shared.gateways.registry import GatewayRegistry
from shared.persistence.tables import audit_log, outbox, refunds, transactions
from tests.integration.conftest import UowFactory
from tests.support.world import TenantWorld

ACTOR = "tests"


@pytest.fixture
def processor(uow_factory: UowFactory, registry: GatewayRegistry) -> TransactionHandlers:
    return TransactionHandlers(uow_factory, registry, utc_now)


@pytest.fixture
def refunder(uow_factory: UowFactory, registry: GatewayRegistry) -> RefundHandlers:
    return RefundHandlers(uow_factory, registry, utc_now)


def command_id() -> str:
    return str(uuid.uuid4())


async def pending_cash(processor: TransactionHandlers, tenant: TenantWorld, amount: int = 10_000) -> uuid.UUID:
    transaction_id = uuid.uuid4()
    await processor.create(
        commands.CreateTransaction(
            command_id=command_id(),
            tenant_id=tenant.tenant_id,
            actor=ACTOR,
            transaction_id=transaction_id,
            gateway="cash",
            account_id=tenant.accounts["cash"],
            amount=amount,
            currency="UZS",
        )
    )
    return transaction_id


async def completed_cash(processor: TransactionHandlers, tenant: TenantWorld, amount: int = 10_000) -> uuid.UUID:
    transaction_id = await pending_cash(processor, tenant, amount)
    await processor.complete(
        commands.CompleteTransaction(command_id(), tenant.tenant_id, ACTOR, transaction_id=transaction_id)
    )
    return transaction_id


def refund_command(tenant: TenantWorld, transaction_id: uuid.UUID, amount: int) -> commands.RequestRefund:
    return commands.RequestRefund(
        command_id=command_id(),
        tenant_id=tenant.tenant_id,
        actor=ACTOR,
        transaction_id=transaction_id,
        refund_id=uuid.uuid4(),
        amount=amount,
    )


async def transaction_row(engine: AsyncEngine, transaction_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(transactions).where(transactions.c.id == transaction_id))).mappings().one()


async def refund_rows(engine: AsyncEngine, transaction_id: uuid.UUID) -> list[Any]:
    async with engine.connect() as conn:
        query = select(refunds).where(refunds.c.transaction_id == transaction_id)
        return list((await conn.execute(query)).mappings().all())


async def event_count(engine: AsyncEngine, transaction_id: uuid.UUID, routing_key: str) -> int:
    query = select(func.count()).where(
        outbox.c.body["subject"].astext == str(transaction_id), outbox.c.routing_key == routing_key
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_concurrent_refunds_never_pass_the_amount(
    processor: TransactionHandlers, refunder: RefundHandlers, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    transaction_id = await completed_cash(processor, tenant, 10_000)

    await asyncio.gather(*(refunder.request(refund_command(tenant, transaction_id, 3_000)) for _ in range(20)))

    ledger = await refund_rows(engine, transaction_id)
    assert len(ledger) == 20
    succeeded = [r for r in ledger if r["status"] == "succeeded"]
    failed = [r for r in ledger if r["status"] == "failed"]
    assert len(succeeded) == 3 and sum(r["amount"] for r in succeeded) == 9_000
    assert len(failed) == 17 and all(r["error"] for r in failed)
    row = await transaction_row(engine, transaction_id)
    assert (row["refunded_amount"], row["status"]) == (9_000, "partially_refunded")
    assert await event_count(engine, transaction_id, "refund.succeeded") == 3


async def test_the_same_refund_command_twice_makes_one_refund(
    processor: TransactionHandlers, refunder: RefundHandlers, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    transaction_id = await completed_cash(processor, tenant, 10_000)
    command = refund_command(tenant, transaction_id, 4_000)

    await asyncio.gather(refunder.request(command), refunder.request(command))
    await refunder.request(command)  # a late redelivery

    [refund] = await refund_rows(engine, transaction_id)
    assert (refund["id"], refund["amount"], refund["status"]) == (command.refund_id, 4_000, "succeeded")
    row = await transaction_row(engine, transaction_id)
    assert (row["refunded_amount"], row["status"]) == (4_000, "partially_refunded")
    assert await event_count(engine, transaction_id, "refund.succeeded") == 1


async def test_identical_complete_commands_make_one_transition(
    processor: TransactionHandlers, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    transaction_id = await pending_cash(processor, tenant)
    command = commands.CompleteTransaction(command_id(), tenant.tenant_id, ACTOR, transaction_id=transaction_id)

    await asyncio.gather(*(processor.complete(command) for _ in range(10)))

    row = await transaction_row(engine, transaction_id)
    assert (row["status"], row["version"]) == ("completed", 2)
    assert await event_count(engine, transaction_id, "transaction.completed") == 1
    async with engine.connect() as conn:
        query = select(func.count()).where(
            audit_log.c.transaction_id == transaction_id, audit_log.c.action == "complete"
        )
        assert (await conn.execute(query)).scalar_one() == 1


async def test_complete_and_cancel_race_has_one_winner(
    processor: TransactionHandlers, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    ids = [await pending_cash(processor, tenant) for _ in range(5)]

    async def race(transaction_id: uuid.UUID) -> tuple[BaseException | None, BaseException | None]:
        complete = commands.CompleteTransaction(command_id(), tenant.tenant_id, ACTOR, transaction_id=transaction_id)
        cancel = commands.CancelTransaction(command_id(), tenant.tenant_id, ACTOR, transaction_id=transaction_id)
        return await asyncio.gather(processor.complete(complete), processor.cancel(cancel), return_exceptions=True)

    outcomes = await asyncio.gather(*(race(transaction_id) for transaction_id in ids))

    for transaction_id, (completing, canceling) in zip(ids, outcomes, strict=True):
        losers = [o for o in (completing, canceling) if o is not None]
        assert len(losers) == 1 and isinstance(losers[0], TransitionNotAllowed), (completing, canceling)
        status = (await transaction_row(engine, transaction_id))["status"]
        assert status == ("completed" if completing is None else "canceled")
        completed = await event_count(engine, transaction_id, "transaction.completed")
        canceled = await event_count(engine, transaction_id, "transaction.canceled")
        assert completed + canceled == 1
