"""A database that fails under either driver is one DatabaseUnavailable, and each edge answers it its own way.

The ingress and the workers run in this process on a database of their own whose `transactions`,
`gateway_accounts` and `reconciliations` tables were dropped after the tenant was made: every statement on
them fails inside PostgreSQL (asyncpg's UndefinedTableError, or SQLAlchemy's ProgrammingError around it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress.app import create_app
from services.processor.app import bootstrap
from shared.broker import topology
from shared.broker.consumer import Delivery, DeliveryOutcome
from shared.broker.publisher import ConfirmedPublisher
from shared.persistence import driver
from shared.persistence.database import create_engine, raw_dsn
from shared.persistence.errors import DatabaseUnavailable
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_database, drop_vhost, new_database, new_vhost
from tests.support.click import PREPARE_VECTOR
from tests.support.world import TenantWorld, make_tenant

DROPPED = ("transactions", "gateway_accounts", "reconciliations")


@dataclass
class Broken:
    settings: Settings
    engine: AsyncEngine
    cipher: Cipher
    tenant: TenantWorld
    client: httpx.AsyncClient
    publisher: ConfirmedPublisher


@pytest.fixture(scope="module")
async def broken(servers: Servers, settings: Settings) -> AsyncIterator[Broken]:
    database_url = await asyncio.to_thread(new_database, servers)
    amqp_url = await asyncio.to_thread(new_vhost, servers)
    own = settings.model_copy(update={"database_url": database_url, "amqp_url": amqp_url})
    cipher = Cipher(own.secret_key or "")
    engine = create_engine(database_url, pool_size=2)
    publisher = ConfirmedPublisher(amqp_url)
    try:
        tenant = await make_tenant(engine, cipher)
        admin = await asyncpg.connect(raw_dsn(database_url))
        try:
            await admin.execute(f"DROP TABLE {', '.join(DROPPED)} CASCADE")
        finally:
            await admin.close()
        await topology.declare(amqp_url, own.retry_delay_ms)
        await publisher.start()
        app = create_app(own)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingress") as client,
        ):
            yield Broken(own, engine, cipher, tenant, client, publisher)
    finally:
        await publisher.close()
        await engine.dispose()
        await asyncio.to_thread(drop_vhost, amqp_url)
        await asyncio.to_thread(drop_database, database_url)


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_unavailable"


async def test_the_api_answers_503_whichever_driver_failed(broken: Broken) -> None:
    one = await broken.client.get(f"/v1/transactions/{uuid.uuid4()}", headers=broken.tenant.auth)  # asyncpg
    assert_database_unavailable(one)
    page = await broken.client.get("/v1/transactions", headers=broken.tenant.auth)  # SQLAlchemy Core
    assert_database_unavailable(page)


async def test_click_answers_minus_7_when_postgresql_refuses_the_account_lookup(broken: Broken) -> None:
    """Before DatabaseUnavailable, a PostgresError here escaped Click's handler (only SQLAlchemy's was caught)."""
    response = await broken.client.post(f"/webhooks/click/{uuid.uuid4()}/prepare", data=PREPARE_VECTOR)
    assert response.status_code == 200
    assert response.json()["error"] == -7


async def test_payme_answers_system_error_when_postgresql_refuses_the_account_lookup(broken: Broken) -> None:
    call = {"jsonrpc": "2.0", "id": 41, "method": "CheckTransaction", "params": {"id": "5305e3bab097f420a62ced0b"}}
    response = await broken.client.post(f"/webhooks/payme/{uuid.uuid4()}", content=json.dumps(call))
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["error"]["code"]) == (41, -32400)


async def test_octo_is_told_to_send_the_notify_again(broken: Broken) -> None:
    notice = {
        "shop_transaction_id": str(uuid.uuid4()),
        "octo_payment_UUID": str(uuid.uuid4()),
        "status": "succeeded",
        "signature": "0" * 40,
    }
    response = await broken.client.post(f"/webhooks/octo/{uuid.uuid4()}", json=notice)
    assert response.status_code == 503
    assert response.json()["error"] == 7  # NotifyError.TRY_AGAIN: Octo sends it again


async def test_a_command_is_retried_whichever_driver_failed(broken: Broken) -> None:
    processor = bootstrap(broken.settings)
    await processor.publisher.start()
    try:
        ids = {"command_id": str(uuid.uuid4()), "tenant_id": str(broken.tenant.tenant_id)}
        complete = {**ids, "transaction_id": str(uuid.uuid4())}  # asyncpg, in a unit of work
        run = {**ids, "command_id": str(uuid.uuid4()), "reconciliation_id": str(uuid.uuid4())}  # SQLAlchemy Core
        for route, body in (("transaction.complete", complete), ("reconciliation.run", run)):
            delivery = Delivery(json.dumps(body).encode(), route, {}, body["command_id"])
            assert await processor.consumer.process(delivery) == DeliveryOutcome.RETRY, route
    finally:
        await processor.publisher.close()


async def test_each_driver_error_becomes_database_unavailable(broken: Broken) -> None:
    with pytest.raises(DatabaseUnavailable) as under_uow:
        async with UnitOfWork(broken.engine, broken.cipher) as uow:
            await uow.transactions(broken.tenant.tenant_id).get(uuid.uuid4())
    assert isinstance(under_uow.value.__cause__, asyncpg.UndefinedTableError)
    with pytest.raises(DatabaseUnavailable) as under_core:
        async with driver.core(broken.engine) as conn:
            await conn.exec_driver_sql("SELECT 1 FROM transactions")
    assert isinstance(under_core.value.__cause__, DBAPIError)


async def test_a_database_that_cannot_be_reached_is_database_unavailable(broken: Broken, cipher: Cipher) -> None:
    nowhere = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/billing", pool_size=1)
    try:
        with pytest.raises(DatabaseUnavailable):
            async with UnitOfWork(nowhere, cipher):
                pass
        with pytest.raises(DatabaseUnavailable):
            async with driver.core(nowhere) as conn:
                await conn.exec_driver_sql("SELECT 1")
    finally:
        await nowhere.dispose()
