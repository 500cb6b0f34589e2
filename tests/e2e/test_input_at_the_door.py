"""Input PostgreSQL cannot hold is refused at the door with 422 naming the field, never accepted and parked:
NUL characters anywhere, oversized metadata and details, query values out of any range."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.tables import api_keys, transactions
from shared.storable import DETAILS_MAX_BYTES, METADATA_MAX_BYTES
from tests.support.http import create
from tests.support.world import TenantWorld


async def _stored(engine: AsyncEngine, world: TenantWorld) -> tuple[int, int]:
    async with engine.connect() as conn:
        txs = await conn.execute(select(func.count()).where(transactions.c.tenant_id == world.tenant_id))
        keys = await conn.execute(select(func.count()).where(api_keys.c.tenant_id == world.tenant_id))
        return int(txs.scalar_one()), int(keys.scalar_one())


def _create(world: TenantWorld, **changes: Any) -> dict[str, Any]:
    return {"gateway": "cash", "account_id": str(world.accounts["cash"]), "amount": 1000, "currency": "UZS"} | changes


NUL_BODIES = [
    ("/v1/transactions", {"metadata": {"note": "a\u0000b"}}, "metadata", "metadata.note"),
    ("/v1/transactions", {"metadata": {"k\u0000": 1}}, "metadata", "metadata.k\u0000"),
    ("/v1/transactions", {"details": {"items": [{"title": "\u0000"}]}}, "details", "details.items[0].title"),
    ("/v1/api-keys", {"name": "x\u0000", "permissions": ["billing.view"]}, "name", None),
]


@pytest.mark.parametrize(("path", "body", "field", "inner"), NUL_BODIES, ids=lambda v: str(v)[:30])
async def test_a_nul_character_anywhere_is_422_naming_the_field(
    client: httpx.AsyncClient,
    tenant: TenantWorld,
    engine: AsyncEngine,
    path: str,
    body: dict[str, Any],
    field: str,
    inner: str | None,
) -> None:
    before = await _stored(engine, tenant)
    full = _create(tenant, **body) if path == "/v1/transactions" else body
    answer = await client.post(path, json=full, headers={**tenant.auth, "Idempotency-Key": str(uuid.uuid4())})
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "invalid_request" and problem["detail"].startswith(f"{field}:")
    assert "NUL" in problem["detail"] and problem["errors"][0]["field"] == field
    if inner is not None:
        assert inner.split(".", 1)[1] in problem["detail"]
    assert await _stored(engine, tenant) == before


async def test_a_nul_in_a_cancel_reason_or_a_search_value_is_422(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    tx = await create(client, tenant)
    cancel = await client.post(f"/v1/transactions/{tx['id']}/cancel", json={"reason": "\u0000"}, headers=tenant.auth)
    assert cancel.status_code == 422 and cancel.json()["detail"].startswith("reason:")
    search = await client.post(
        "/v1/transactions/search",
        json={"gateway": "cash", "filters": [{"path": ["a"], "op": "eq", "value": "\u0000"}]},
        headers=tenant.auth,
    )
    assert search.status_code == 422 and search.json()["detail"].startswith("filters")
    after = await client.get(f"/v1/transactions/{tx['id']}", headers=tenant.auth)
    assert after.json()["status"] == "pending"


async def test_metadata_and_details_are_capped(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine
) -> None:
    before = await _stored(engine, tenant)
    headers = {**tenant.auth, "Idempotency-Key": str(uuid.uuid4())}
    big_metadata = {"blob": "m" * METADATA_MAX_BYTES}
    refused = await client.post("/v1/transactions", json=_create(tenant, metadata=big_metadata), headers=headers)
    assert refused.status_code == 422 and refused.json()["detail"].startswith("metadata:")
    assert str(METADATA_MAX_BYTES) in refused.json()["detail"]
    big_details = {"blob": "d" * DETAILS_MAX_BYTES}
    refused = await client.post("/v1/transactions", json=_create(tenant, details=big_details), headers=headers)
    assert refused.status_code == 422 and refused.json()["detail"].startswith("details:")
    assert await _stored(engine, tenant) == before
    fits = {"blob": "m" * (METADATA_MAX_BYTES - 20)}
    accepted = await create(client, tenant, metadata=fits)
    assert accepted["metadata"] == fits
    huge = await client.post(
        "/v1/transactions", content=b'{"metadata": "' + b"x" * (2 * 1024 * 1024) + b'"}', headers=headers
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"


MALFORMED_QUERIES = [
    "created_from=yesterday",
    "created_from=0001-01-01T00:00:00%2B01:00",
    "created_to=9999-12-31T23:59:59-01:00",
    "gateway=%00",
    "gateway=cash%00",
    "currency=%00%00%00",
    "currency=12%25",
    "status=paid",
    "sort=drop",
    "page=abc",
    "page=99999999999999999999999",
    "page_size=0",
    "page_size=501",
]


@pytest.mark.parametrize("query", MALFORMED_QUERIES)
async def test_malformed_list_queries_are_4xx_not_500(
    client: httpx.AsyncClient, tenant: TenantWorld, query: str
) -> None:
    for path in ("/v1/transactions", "/v1/transactions/count"):
        answer = await client.get(f"{path}?{query}", headers=tenant.auth)
        if path.endswith("count") and query.split("=")[0] in ("sort", "page", "page_size"):
            assert answer.status_code == 200  # not a parameter of the count
            continue
        assert answer.status_code == 422, (path, query, answer.text)
        assert answer.json()["errors"][0]["field"].endswith(query.split("=")[0])


async def test_a_naive_time_is_read_as_utc(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    answer = await client.get("/v1/transactions?created_from=2020-01-01T00:00:00", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
