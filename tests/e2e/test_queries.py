"""Listing, counting and searching by gateway details, scoped to the tenant."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from tests.support.http import create, paid
from tests.support.world import make_tenant


async def test_list_count_filter_sort_and_page(client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher) -> None:
    world = await make_tenant(engine, cipher)
    amounts = [500, 100, 300, 200, 400]
    for amount in amounts:
        await create(client, world, amount=amount, currency="USD")
    await paid(client, world, amount=900)
    await create(client, world, amount=7, currency="JPY")

    page = (await client.get("/v1/transactions", params={"sort": "amount", "page_size": 2}, headers=world.auth)).json()
    assert page["total"] == 7 and page["page"] == 1 and page["page_size"] == 2
    assert [tx["amount"] for tx in page["items"]] == [7, 100]
    second = (
        await client.get("/v1/transactions", params={"sort": "amount", "page_size": 2, "page": 2}, headers=world.auth)
    ).json()
    assert [tx["amount"] for tx in second["items"]] == [200, 300]
    top = (
        await client.get("/v1/transactions", params={"sort": "-amount", "currency": "USD"}, headers=world.auth)
    ).json()
    assert [tx["amount"] for tx in top["items"]] == [500, 400, 300, 200, 100]
    completed = await client.get("/v1/transactions/count", params={"status": "completed"}, headers=world.auth)
    assert completed.json() == {"count": 1}
    pending_usd = await client.get(
        "/v1/transactions/count", params={"status": "pending", "currency": "USD"}, headers=world.auth
    )
    assert pending_usd.json() == {"count": 5}
    newest = page_items = (await client.get("/v1/transactions", headers=world.auth)).json()["items"]
    assert newest[0]["currency"] == "JPY" and len(page_items) == 7
    first_created = min(tx["created_at"] for tx in newest)
    later = await client.get("/v1/transactions/count", params={"created_from": first_created}, headers=world.auth)
    assert later.json()["count"] == 7
    none = await client.get("/v1/transactions/count", params={"created_to": "2000-01-01T00:00:00Z"}, headers=world.auth)
    assert none.json() == {"count": 0}


async def test_search_by_details_compares_numbers_as_numbers(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await make_tenant(engine, cipher)
    for order, score in (("A-9", 9), ("A-10", 10), ("B-100", 100)):
        await create(client, world, details={"data": {"order": order, "score": score, "tags": ["x"]}})

    async def search(*filters: dict[str, object]) -> list[str]:
        response = await client.post(
            "/v1/transactions/search", json={"gateway": "cash", "filters": list(filters)}, headers=world.auth
        )
        assert response.status_code == 200, response.text
        return sorted(tx["details"]["data"]["order"] for tx in response.json()["items"])

    assert await search({"path": ["data", "score"], "op": "gt", "value": 9}) == ["A-10", "B-100"]
    assert await search({"path": ["data", "score"], "op": "lte", "value": 10}) == ["A-10", "A-9"]
    assert await search({"path": ["data", "order"], "op": "eq", "value": "A-9"}) == ["A-9"]
    assert await search({"path": ["data", "order"], "op": "ne", "value": "A-9"}) == ["A-10", "B-100"]
    assert await search({"path": ["data", "order"], "op": "in", "value": ["A-9", "B-100"]}) == ["A-9", "B-100"]
    assert await search({"path": ["data", "score"], "op": "between", "value": [10, 100]}) == ["A-10", "B-100"]
    assert await search({"path": ["data", "missing"], "op": "exists", "value": False}) == ["A-10", "A-9", "B-100"]
    assert await search({"path": ["data", "score"], "op": "exists", "value": True}) == ["A-10", "A-9", "B-100"]
    assert await search({"path": ["data", "tags", 0], "op": "eq", "value": "x"}) == ["A-10", "A-9", "B-100"]
    injected = await search({"path": ["data", "order') OR 1=1 --"], "op": "eq", "value": "A-9"})
    assert injected == []
    bad = await client.post(
        "/v1/transactions/search",
        json={"gateway": "cash", "filters": [{"path": ["data", "score"], "op": "between", "value": [1, "z"]}]},
        headers=world.auth,
    )
    assert bad.status_code == 422
    unknown_op = await client.post(
        "/v1/transactions/search",
        json={"gateway": "cash", "filters": [{"path": ["data"], "op": "like", "value": "%"}]},
        headers=world.auth,
    )
    assert unknown_op.status_code == 422
