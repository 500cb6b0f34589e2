"""The webhook deliveries in PostgreSQL: one per endpoint and event, leased by one worker at a time, capped."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.domain.webhooks import new_secret
from shared.persistence.database import create_engine
from shared.persistence.webhooks import WebhookDeliveries, WebhookEndpoints
from shared.security.cipher import Cipher
from tests.conftest import Servers, drop_database, new_database
from tests.support.world import TenantWorld, make_tenant


@pytest.fixture
def own_database(servers: Servers) -> Iterator[str]:
    """A database of each test's own: in the session's, the running webhooks worker leases due deliveries too,
    and other tests' pending deliveries compete for the same claim."""
    url = new_database(servers)
    yield url
    drop_database(url)


@pytest.fixture
async def engine(own_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_database, pool_size=6)
    yield engine
    await engine.dispose()


def event(tenant_id: uuid.UUID, kind: str = "transaction.completed") -> tuple[uuid.UUID, str]:
    event_id = uuid.uuid4()
    body = {"id": str(event_id), "type": f"billing.{kind}", "tenantid": str(tenant_id), "data": {}}
    return event_id, json.dumps(body)


async def endpoint(engine: AsyncEngine, cipher: Cipher, world: TenantWorld, events: list[str]) -> uuid.UUID:
    view = await WebhookEndpoints(engine, cipher, world.tenant_id).add(
        "https://merchant.example/hook", events, None, new_secret()
    )
    return view.id


async def test_a_redelivered_event_makes_no_second_delivery_and_only_its_tenants_endpoints_get_one(
    engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    other = await make_tenant(engine, cipher)
    await endpoint(engine, cipher, tenant, ["*"])
    await endpoint(engine, cipher, tenant, ["transaction.completed"])
    await endpoint(engine, cipher, tenant, ["refund.succeeded"])
    await endpoint(engine, cipher, other, ["*"])
    deliveries = WebhookDeliveries(engine, cipher)
    event_id, body = event(tenant.tenant_id)
    assert await deliveries.record(tenant.tenant_id, event_id, "transaction.completed", body) == 2
    assert await deliveries.record(tenant.tenant_id, event_id, "transaction.completed", body) == 0
    async with engine.connect() as conn:
        tenants = (
            await conn.execute(
                text("SELECT DISTINCT tenant_id FROM webhook_deliveries WHERE event_id = :id"), {"id": event_id}
            )
        ).scalars()
        assert list(tenants) == [tenant.tenant_id]


async def test_replicas_claiming_together_split_the_due_deliveries_and_respect_the_endpoint_cap(
    engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    busy = await endpoint(engine, cipher, tenant, ["*"])
    replicas = [WebhookDeliveries(engine, cipher) for _ in range(6)]
    for _ in range(30):
        event_id, body = event(tenant.tenant_id)
        await replicas[0].record(tenant.tenant_id, event_id, "transaction.completed", body)
    for _ in range(20):  # many rounds: a race between claims shows in some of them (18 of 30 leased, once)
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE webhook_deliveries SET leased_until = NULL WHERE endpoint_id = :id"), {"id": busy}
            )
        claims = await asyncio.gather(*(replica.claim(10, 3, 30.0) for replica in replicas))
        mine = [c for claimed in claims for c in claimed if c.endpoint_id == busy]
        assert len(mine) == len({c.id for c in mine}), "a delivery leased twice"
        assert 1 <= len(mine) <= 3, "the per-endpoint cap holds across replicas"
        assert all(c.secrets and c.secrets[0].startswith("whsec_") for c in mine)
    again = await replicas[0].claim(10, 3, 30.0)
    assert [c for c in again if c.endpoint_id == busy] == [], "leased ones are not offered while leased"

    async with engine.begin() as conn:  # the leases run out, as after a worker was killed mid-attempt
        await conn.execute(
            text("UPDATE webhook_deliveries SET leased_until = now() - interval '1 second' WHERE endpoint_id = :id"),
            {"id": busy},
        )
    retaken = [c for c in await replicas[1].claim(10, 3, 30.0) if c.endpoint_id == busy]
    assert len(retaken) == 3


async def test_a_long_backlog_on_one_endpoint_never_crowds_out_another(
    engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    flooded = await endpoint(engine, cipher, tenant, ["transaction.completed"])
    deliveries = WebhookDeliveries(engine, cipher)
    for _ in range(40):
        event_id, body = event(tenant.tenant_id)
        await deliveries.record(tenant.tenant_id, event_id, "transaction.completed", body)
    quiet = await endpoint(engine, cipher, tenant, ["refund.succeeded"])
    event_id, body = event(tenant.tenant_id, "refund.succeeded")
    await deliveries.record(tenant.tenant_id, event_id, "refund.succeeded", body)
    claimed = await deliveries.claim(20, 4, 30.0)  # fewer than the flood: uncapped, it alone would fill them
    assert [c.endpoint_id for c in claimed].count(flooded) <= 4
    assert quiet in [c.endpoint_id for c in claimed], "the other endpoint's newer delivery is served at once"
