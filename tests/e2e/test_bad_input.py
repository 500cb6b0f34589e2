"""Bad input gets a clear problem+json error and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.tables import refunds, transactions
from shared.security.apikeys import Permission
from shared.security.cipher import Cipher
from tests.support.http import create, paid, until
from tests.support.world import TenantWorld, make_tenant


async def _rows(engine: AsyncEngine, world: TenantWorld) -> tuple[int, int]:
    async with engine.connect() as conn:
        txs = (await conn.execute(select(func.count()).where(transactions.c.tenant_id == world.tenant_id))).scalar_one()
        rfs = (await conn.execute(select(func.count()).where(refunds.c.tenant_id == world.tenant_id))).scalar_one()
    return int(txs), int(rfs)


def _body(world: TenantWorld, **changes: Any) -> dict[str, Any]:
    return {"gateway": "cash", "account_id": str(world.accounts["cash"]), "amount": 1000, "currency": "UZS"} | changes


BAD_CREATES = [
    ({"amount": -5}, 422, "invalid_request"),
    ({"amount": 0}, 422, "invalid_request"),
    ({"amount": 10.5}, 422, "invalid_request"),
    ({"amount": "100"}, 422, "invalid_request"),
    ({"currency": "XYZ"}, 422, "unknown_currency"),
    ({"currency": "usd"}, 422, "unknown_currency"),
    ({"currency": "US"}, 422, "invalid_request"),
    ({"gateway": "paypal"}, 422, "unknown_gateway"),
    ({"account_id": "00000000-0000-0000-0000-000000000001"}, 422, "unknown_account"),
    ({"account_id": "not-a-uuid"}, 422, "invalid_request"),
    ({"details": {"data": 5}}, 422, "invalid_details"),
    ({"details": "text"}, 422, "invalid_request"),
    ({"surprise": 1}, 422, "invalid_request"),
]


@pytest.mark.parametrize(("changes", "status", "code"), BAD_CREATES)
async def test_bad_create_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, changes: dict[str, Any], status: int, code: str
) -> None:
    before = await _rows(engine, tenant)
    response = await client.post("/v1/transactions", json=_body(tenant, **changes), headers=tenant.auth)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status and problem["detail"]
    assert await _rows(engine, tenant) == before


async def test_malformed_json_is_400(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    response = await client.post(
        "/v1/transactions", content=b'{"gateway": "cash",', headers={**tenant.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"


async def test_missing_or_wrong_key_is_401(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": tenant.auth["Authorization"] + "x"}):
        response = await client.get("/v1/transactions", headers=headers)
        assert response.status_code == 401 and response.headers["content-type"].startswith("application/problem+json")


async def test_missing_permission_is_403(client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher) -> None:
    viewer = await make_tenant(engine, cipher, permissions=[Permission.VIEW])
    response = await client.post("/v1/transactions", json=_body(viewer), headers=viewer.auth)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert (await client.get("/v1/transactions", headers=viewer.auth)).status_code == 200
    assert (await client.get("/v1/gateway-accounts", headers=viewer.auth)).status_code == 403


async def test_another_tenants_transaction_is_invisible(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, cipher: Cipher
) -> None:
    mine = await paid(client, tenant)
    other = await make_tenant(engine, cipher)
    tid = mine["id"]
    for method, path, body in [
        ("GET", f"/v1/transactions/{tid}", None),
        ("GET", f"/v1/transactions/{tid}/refunds", None),
        ("GET", f"/v1/transactions/{tid}/audit", None),
        ("POST", f"/v1/transactions/{tid}/complete", {}),
        ("POST", f"/v1/transactions/{tid}/cancel", {}),
        ("POST", f"/v1/transactions/{tid}/refunds", {"amount": 1}),
        ("DELETE", f"/v1/transactions/{tid}", None),
    ]:
        response = await client.request(method, path, json=body, headers=other.auth)
        assert response.status_code == 404, (method, path, response.text)
    listed = (await client.get("/v1/transactions", headers=other.auth)).json()
    assert listed["total"] == 0 and listed["items"] == []
    found = await client.post("/v1/transactions/search", json={"gateway": "cash", "filters": []}, headers=other.auth)
    assert found.json()["items"] == []
    foreign_account = await client.post(
        "/v1/transactions", json=_body(other, account_id=str(tenant.accounts["cash"])), headers=other.auth
    )
    assert foreign_account.status_code == 422
    assert (await until(client, tenant, tid, "completed"))["refunded_amount"] == 0


async def test_forbidden_transitions_are_409(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    pending = await create(client, tenant)
    refund = await client.post(f"/v1/transactions/{pending['id']}/refunds", json={"amount": 1}, headers=tenant.auth)
    assert refund.status_code == 409
    done = await paid(client, tenant)
    for path in ("complete", "cancel"):
        response = await client.post(f"/v1/transactions/{done['id']}/{path}", json={}, headers=tenant.auth)
        assert response.status_code == 409 and response.json()["code"] == "transition_not_allowed"


async def test_refund_past_the_remainder_is_refused(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine
) -> None:
    done = await paid(client, tenant, amount=1000)
    before = await _rows(engine, tenant)
    for amount in (1001, 0, -1):
        response = await client.post(
            f"/v1/transactions/{done['id']}/refunds", json={"amount": amount}, headers=tenant.auth
        )
        assert response.status_code == 422, response.text
    assert await _rows(engine, tenant) == before
    ok = await client.post(f"/v1/transactions/{done['id']}/refunds", json={"amount": 600}, headers=tenant.auth)
    assert ok.status_code == 202
    await until(client, tenant, done["id"], "partially_refunded")
    over = await client.post(f"/v1/transactions/{done['id']}/refunds", json={"amount": 401}, headers=tenant.auth)
    assert over.status_code == 422 and over.json()["code"] == "refund_exceeds_remainder"


async def test_unknown_transaction_is_404(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    missing = uuid.uuid4()
    assert (await client.get(f"/v1/transactions/{missing}", headers=tenant.auth)).status_code == 404
    assert (await client.get("/v1/transactions/not-a-uuid", headers=tenant.auth)).status_code == 422
    assert (await client.get("/v1/transactions?page_size=501", headers=tenant.auth)).status_code == 422
    assert (await client.get("/v1/transactions?status=paid", headers=tenant.auth)).status_code == 422
    assert (await client.get("/v1/transactions?sort=name", headers=tenant.auth)).status_code == 422
