"""The unit of work on the real database: what commit writes, what rollback leaves, and the guards below it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.persistence import driver
from shared.persistence.database import create_engine, raw_dsn
from shared.persistence.errors import DatabaseUnavailable
from shared.persistence.tables import audit_log, outbox, transactions, webhook_log
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.integration.conftest import UowFactory
from tests.support.world import TenantWorld, make_tenant


def new_cash_transaction(tenant: TenantWorld, amount: int = 10_000) -> Transaction:
    return Transaction.open(
        id=uuid.uuid4(),
        tenant_id=tenant.tenant_id,
        account_id=tenant.accounts["cash"],
        gateway="cash",
        money=Money.of(amount, "UZS"),
        details={"data": {"till": 7}},
        metadata={"project_id": "p-42"},
        at=utc_now(),
    )


async def rows(engine: AsyncEngine, table: Any, transaction_id: uuid.UUID) -> list[Any]:
    column = table.c.id if table is transactions else table.c.transaction_id
    async with engine.connect() as conn:
        return list((await conn.execute(select(table).where(column == transaction_id))).mappings().all())


async def outbox_rows(engine: AsyncEngine, transaction_id: uuid.UUID) -> list[Any]:
    query = select(outbox).where(outbox.c.body["subject"].astext == str(transaction_id)).order_by(outbox.c.id)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())


async def test_commit_writes_row_audit_and_outbox(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    tx = new_cash_transaction(tenant)
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        tx.complete(utc_now())
        await uow.commit(actor="operator:alice", request_id="req-1")

    [row] = await rows(engine, transactions, tx.id)
    assert (row["status"], row["amount"], row["currency"], row["version"]) == ("completed", 10_000, "UZS", 1)
    assert row["metadata"] == {"project_id": "p-42"}

    audit = sorted(await rows(engine, audit_log, tx.id), key=lambda r: r["id"])
    assert [(a["actor"], a["action"], a["request_id"]) for a in audit] == [
        ("operator:alice", "create", "req-1"),
        ("operator:alice", "complete", "req-1"),
    ]
    assert audit[0]["before"] is None and audit[0]["after"]["status"] == "pending"
    assert audit[1]["before"]["status"] == "pending" and audit[1]["after"]["status"] == "completed"

    events = await outbox_rows(engine, tx.id)
    assert [e["routing_key"] for e in events] == ["transaction.created", "transaction.completed"]
    for event in events:
        body = event["body"]
        assert body["specversion"] == "1.0"
        assert body["id"] == str(event["event_id"])
        assert body["type"] == f"billing.{event['routing_key']}"
        assert body["subject"] == str(tx.id)
        assert body["tenantid"] == str(tenant.tenant_id)
        assert body["data"]["metadata"] == {"project_id": "p-42"}
        assert body["data"]["id"] == str(tx.id)


async def test_leaving_without_commit_writes_nothing(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    tx = new_cash_transaction(tenant)
    async with uow_factory() as uow:
        assert await uow.claim("tests", f"uncommitted-{tx.id}")
        uow.transactions(tenant.tenant_id).add(tx)
    assert await rows(engine, transactions, tx.id) == []
    assert await rows(engine, audit_log, tx.id) == []
    assert await outbox_rows(engine, tx.id) == []
    async with uow_factory() as uow:  # the inbox claim was rolled back too
        assert await uow.claim("tests", f"uncommitted-{tx.id}")


async def test_webhook_calls_are_written_with_the_commit_only(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    kept, dropped = f"kept-{uuid.uuid4()}", f"dropped-{uuid.uuid4()}"
    account_id = tenant.accounts["cash"]
    for message_id, committed in ((kept, True), (dropped, False)):
        async with uow_factory() as uow:
            uow.log_webhook(
                tenant_id=tenant.tenant_id,
                account_id=account_id,
                gateway="cash",
                message_id=message_id,
                payload={"n": 1},
                outcome="ok",
            )
            if committed:
                await uow.commit(actor="tests", request_id=None)  # no transaction changed: the call alone
    async with engine.connect() as conn:
        found = (
            (await conn.execute(select(webhook_log).where(webhook_log.c.message_id.in_([kept, dropped]))))
            .mappings()
            .all()
        )
    assert [(row["message_id"], row["payload"], row["outcome"]) for row in found] == [(kept, {"n": 1}, "ok")]


async def test_a_read_only_unit_of_work_opens_no_transaction(
    engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    tx = new_cash_transaction(tenant)
    async with UnitOfWork(engine, cipher) as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="tests", request_id=None)
    async with UnitOfWork(engine, cipher, read_only=True) as uow:
        assert uow._db is not None and not uow._db.is_in_transaction()
        found = await uow.transactions(tenant.tenant_id).get(tx.id)
        assert found is not None and found.id == tx.id
        with pytest.raises(RuntimeError, match="read-only"):
            await uow.commit(actor="tests", request_id=None)


async def test_claim_refuses_a_duplicate_message(uow_factory: UowFactory) -> None:
    message_id = str(uuid.uuid4())
    async with uow_factory() as uow:
        assert await uow.claim("processor", message_id) is True
        await uow.commit(actor="tests", request_id=None)
    async with uow_factory() as uow:
        assert await uow.claim("processor", message_id) is False
        assert await uow.claim("refunds", message_id) is True  # the key is (consumer, message_id)


async def test_repositories_are_tenant_scoped(
    uow_factory: UowFactory, engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    other = await make_tenant(engine, cipher)
    tx = new_cash_transaction(tenant)
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="tests", request_id=None)

    async with uow_factory() as uow:
        assert await uow.transactions(other.tenant_id).get(tx.id) is None
        assert await uow.transactions(other.tenant_id).get(tx.id, lock=False) is None
        assert await uow.accounts(other.tenant_id).get(tenant.accounts["cash"]) is None
        # ...while the owner sees both
        assert (await uow.transactions(tenant.tenant_id).get(tx.id)) is not None
        account = await uow.accounts(tenant.tenant_id).get(tenant.accounts["cash"])
        assert account is not None and account.gateway == "cash"
    with pytest.raises(ValueError, match="another tenant"):
        async with uow_factory() as uow:
            uow.transactions(other.tenant_id).add(new_cash_transaction(tenant))


async def test_audit_log_is_append_only(uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld) -> None:
    tx = new_cash_transaction(tenant)
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="tests", request_id=None)

    mine = audit_log.c.transaction_id == tx.id
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(update(audit_log).where(mine).values(actor="mallory"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(delete(audit_log).where(mine))
    [row] = await rows(engine, audit_log, tx.id)
    assert row["actor"] == "tests"


async def test_database_refuses_refunds_past_the_amount(
    uow_factory: UowFactory, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    tx = new_cash_transaction(tenant)
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        tx.complete(utc_now())
        await uow.commit(actor="tests", request_id=None)

    with pytest.raises(DatabaseUnavailable, match="ck_transactions_refunded_within_amount") as refused:
        async with uow_factory() as uow:
            loaded = await uow.transactions(tenant.tenant_id).get(tx.id)
            assert loaded is not None
            loaded.refunded_amount = loaded.amount + 1  # code bypassing the aggregate's guard
            loaded.update(utc_now(), details={"note": "sneaky"})
            await uow.commit(actor="tests", request_id=None)
    assert isinstance(refused.value.__cause__, asyncpg.CheckViolationError)
    [row] = await rows(engine, transactions, tx.id)
    assert row["refunded_amount"] == 0


async def test_connections_postgresql_dropped_leave_the_pool(
    settings: Settings, cipher: Cipher, tenant: TenantWorld
) -> None:
    """After a restart or a failover the server has dropped every pooled connection: the first unit of work
    finds out (its message is retried), and the pool starts afresh, so the next ones work."""
    engine = create_engine(settings.database_url, pool_size=3)

    async def backend_of_a_unit_of_work() -> int:
        async with UnitOfWork(engine, cipher) as uow:
            assert await uow.accounts(tenant.tenant_id).get(tenant.accounts["cash"]) is not None
            await asyncio.sleep(0.1)  # held a moment, so that three of them open three connections
            assert uow._db is not None
            return int(await uow._db.fetchval("SELECT pg_backend_pid()"))

    try:
        pooled = set(await asyncio.gather(*(backend_of_a_unit_of_work() for _ in range(3))))
        assert len(pooled) == 3
        admin = await asyncpg.connect(raw_dsn(settings.database_url))
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(pooled))
        finally:
            await admin.close()

        with pytest.raises(DatabaseUnavailable) as lost:
            await backend_of_a_unit_of_work()
        assert isinstance(lost.value.__cause__, driver.LOST)
        after = {await backend_of_a_unit_of_work() for _ in range(3)}
        assert not after & pooled, "a dropped connection came back from the pool"
    finally:
        await engine.dispose()


async def test_a_session_given_back_inside_a_transaction_is_closed_not_pooled(settings: Settings) -> None:
    """A unit of work cut short mid-BEGIN, mid-COMMIT or mid-ROLLBACK leaves asyncpg's transaction open; pooled
    again, the next unit of work would run inside it as a savepoint and its row locks would never be let go."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        conn, db = await driver.checkout(engine, autocommit=True)
        await db.execute("BEGIN")
        left_open = db.get_server_pid()
        await driver.release(conn, db)

        conn, db = await driver.checkout(engine, autocommit=True)
        try:
            assert db.get_server_pid() != left_open and not db.is_in_transaction()
            still_there = await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", left_open)
        finally:
            await driver.release(conn, db)
        assert still_there == 0, "the session left in a transaction still lives"
    finally:
        await engine.dispose()


async def test_a_unit_of_work_whose_task_is_cancelled_lets_go_of_its_row_locks(
    settings: Settings, cipher: Cipher, tenant: TenantWorld, uow_factory: UowFactory
) -> None:
    """A consumer's task cancelled while its unit of work holds a row lock (a broker node died under it): the
    next unit of work on the same small pool locks that row at once."""
    tx = new_cash_transaction(tenant)
    async with uow_factory() as uow:
        uow.transactions(tenant.tenant_id).add(tx)
        await uow.commit(actor="test", request_id=None)
    engine = create_engine(settings.database_url, pool_size=1)
    locked = asyncio.Event()

    async def hold_the_row() -> None:
        async with UnitOfWork(engine, cipher) as uow:
            assert await uow.transactions(tenant.tenant_id).get(tx.id, lock=True) is not None
            locked.set()
            await asyncio.sleep(60)

    try:
        holder = asyncio.create_task(hold_the_row())
        await asyncio.wait_for(locked.wait(), 10)
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder

        async def lock_again() -> None:
            async with UnitOfWork(engine, cipher) as uow:
                assert await uow.transactions(tenant.tenant_id).get(tx.id, lock=True) is not None

        await asyncio.wait_for(lock_again(), 10)
    finally:
        await engine.dispose()
