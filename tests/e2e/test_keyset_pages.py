"""Keyset pages of GET /v1/transactions (`cursor`): every row once, newest first, filtered, refused when forged."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.tables import transactions
from shared.security.cipher import Cipher
from tests.support.world import TenantWorld, make_tenant

BASE = datetime(2026, 1, 1, tzinfo=UTC)


async def seed(engine: AsyncEngine, world: TenantWorld, rows: list[dict[str, Any]]) -> list[str]:
    """Rows written straight to the table (the walk is what is tested, not how rows arrive); their ids."""
    values = [
        {
            "id": uuid.uuid4(),
            "tenant_id": world.tenant_id,
            "account_id": world.accounts["cash"],
            "gateway": "cash",
            "status": "pending",
            "amount": 1000,
            "currency": "UZS",
            **row,
        }
        for row in rows
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(transactions), values)
    return [str(value["id"]) for value in values]


async def walk(client: httpx.AsyncClient, world: TenantWorld, page_size: int, **filters: str) -> list[dict[str, Any]]:
    """Every page from `cursor=` until `next_cursor` is null."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = ""
    while cursor is not None:
        params = {**filters, "cursor": cursor, "page_size": str(page_size)}
        response = await client.get("/v1/transactions", params=params, headers=world.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}, "the cursor form has no total and no page number"
        assert len(body["items"]) <= page_size
        seen.extend(body["items"])
        cursor = body["next_cursor"]
    return seen


def newest_first(items: list[dict[str, Any]]) -> bool:
    keys = [(datetime.fromisoformat(item["created_at"]), uuid.UUID(item["id"])) for item in items]
    return keys == sorted(keys, reverse=True)


async def test_pages_walk_every_row_exactly_once_while_payments_arrive(
    client: httpx.AsyncClient, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    # Groups of five rows share a created_at, so page boundaries fall inside ties that only the id can break.
    rows = [{"created_at": BASE + timedelta(seconds=index // 5)} for index in range(103)]
    seeded = await seed(engine, tenant, rows)
    arrivals: list[str] = []
    stop = asyncio.Event()

    async def keep_paying() -> None:
        while not stop.is_set():
            body = {"gateway": "cash", "account_id": str(tenant.accounts["cash"]), "amount": 500, "currency": "UZS"}
            response = await client.post("/v1/transactions", json=body, headers=tenant.auth)
            assert response.status_code == 202, response.text
            arrivals.append(response.json()["id"])
            arrivals.extend(await seed(engine, tenant, [{"created_at": datetime.now(UTC)}]))

    writer = asyncio.create_task(keep_paying())
    try:
        seen = await walk(client, tenant, page_size=7)
    finally:
        stop.set()
        await writer
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)), "no row twice"
    assert set(seeded) <= set(ids), "every row that was there when the walk began"
    assert set(ids) <= set(seeded) | set(arrivals)
    assert newest_first(seen)
    assert arrivals, "payments arrived during the walk"


async def test_the_filters_apply_to_every_page(
    client: httpx.AsyncClient, engine: AsyncEngine, tenant: TenantWorld
) -> None:
    shapes: list[dict[str, Any]] = [
        {"status": status, "currency": currency, "created_at": BASE + timedelta(minutes=minute)}
        for minute, (status, currency) in enumerate(
            (status, currency) for status in ("pending", "completed", "failed") for currency in ("UZS", "USD")
        )
        for _ in range(4)
    ]
    ids = await seed(engine, tenant, shapes)
    by_id = dict(zip(ids, shapes, strict=True))

    def matching(**wanted: Any) -> set[str]:
        return {id_ for id_, shape in by_id.items() if all(shape[k] == v for k, v in wanted.items())}

    completed_usd = await walk(client, tenant, page_size=3, status="completed", currency="USD")
    assert {item["id"] for item in completed_usd} == matching(status="completed", currency="USD")
    assert len(completed_usd) == 4 and newest_first(completed_usd)
    failed = await walk(client, tenant, page_size=3, status="failed")
    assert {item["id"] for item in failed} == matching(status="failed")
    window = await walk(
        client,
        tenant,
        page_size=5,
        created_from=(BASE + timedelta(minutes=1)).isoformat(),
        created_to=(BASE + timedelta(minutes=2)).isoformat(),
    )
    assert {item["id"] for item in window} == {
        id_
        for id_, shape in by_id.items()
        if BASE + timedelta(minutes=1) <= shape["created_at"] <= BASE + timedelta(minutes=2)
    }
    paged = (await client.get("/v1/transactions", params={"page_size": 5}, headers=tenant.auth)).json()
    assert paged["total"] == len(ids) and paged["page"] == 1 and "next_cursor" not in paged, "page form unchanged"


async def test_a_malformed_or_changed_cursor_is_a_422_problem(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    await seed_two(client, tenant)
    first = (await client.get("/v1/transactions", params={"cursor": "", "page_size": 1}, headers=tenant.auth)).json()
    valid = first["next_cursor"]
    assert isinstance(valid, str)
    flipped = valid[:10] + ("A" if valid[10] != "A" else "B") + valid[11:]
    for bad in ("garbage", "!!!!", valid[:-1], valid + "A", flipped, "é" * 44, "A" * 5000):
        response = await client.get("/v1/transactions", params={"cursor": bad}, headers=tenant.auth)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_cursor"
    by_amount = await client.get("/v1/transactions", params={"cursor": "", "sort": "amount"}, headers=tenant.auth)
    assert by_amount.status_code == 422 and by_amount.json()["code"] == "invalid_cursor"


async def seed_two(client: httpx.AsyncClient, world: TenantWorld) -> None:
    for amount in (100, 200):
        body = {"gateway": "cash", "account_id": str(world.accounts["cash"]), "amount": amount, "currency": "UZS"}
        response = await client.post("/v1/transactions?wait=true", json=body, headers=world.auth)
        assert response.status_code == 201, response.text


async def test_another_tenants_rows_never_appear(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    other = await make_tenant(engine, cipher)
    # Interleaved in time, so a walk that lost its tenant filter at any page would pick the other's rows up.
    mine = await seed(engine, tenant, [{"created_at": BASE + timedelta(seconds=2 * i)} for i in range(20)])
    theirs = await seed(engine, other, [{"created_at": BASE + timedelta(seconds=2 * i + 1)} for i in range(20)])
    assert {item["id"] for item in await walk(client, tenant, page_size=6)} == set(mine)
    assert {item["id"] for item in await walk(client, other, page_size=6)} == set(theirs)
    # Their cursor is only a position: in my hands it pages through my rows older than it, never theirs.
    their_page = (
        await client.get("/v1/transactions", params={"cursor": "", "page_size": 6}, headers=other.auth)
    ).json()
    replayed = await client.get(
        "/v1/transactions", params={"cursor": their_page["next_cursor"], "page_size": 100}, headers=tenant.auth
    )
    assert replayed.status_code == 200, replayed.text
    position = their_page["items"][-1]["created_at"]
    assert {item["id"] for item in replayed.json()["items"]} == {
        item_id
        for item_id, i in zip(mine, range(20), strict=True)
        if BASE + timedelta(seconds=2 * i) < datetime.fromisoformat(position)
    }


async def test_the_openapi_document_names_both_answer_shapes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    answer = document["paths"]["/v1/transactions"]["get"]["responses"]["200"]["content"]["application/json"]
    schema = document["components"]["schemas"][answer["schema"]["$ref"].split("/")[-1]]
    forms = {frozenset(form["required"]) for form in schema["anyOf"]}
    assert forms == {frozenset({"items", "page", "page_size", "total"}), frozenset({"items", "next_cursor"})}
    parameters = {p["name"] for p in document["paths"]["/v1/transactions"]["get"]["parameters"]}
    assert "cursor" in parameters
