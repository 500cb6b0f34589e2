"""The integrator webhook, account expiry, and the gateway-accounts API."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.integrator import sign
from shared.persistence.tables import gateway_accounts
from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.http import create, until
from tests.support.world import INTEGRATOR_SECRET, TenantWorld, make_tenant


async def _callback(
    client: httpx.AsyncClient, world: TenantWorld, payload: dict[str, object], secret: str = INTEGRATOR_SECRET
) -> httpx.Response:
    raw = json.dumps(payload).encode()
    return await client.post(
        f"/webhooks/integrator/{world.accounts['integrator']}",
        content=raw,
        headers={"Content-Type": "application/json", "X-Billing-Signature": sign(secret, raw)},
    )


async def test_signed_callbacks_complete_or_fail_the_payment(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    paid = await create(client, tenant, gateway="integrator", amount=2500)
    response = await _callback(
        client, tenant, {"transaction_id": paid["id"], "status": "completed", "data": {"ref": "A1"}}
    )
    assert response.status_code == 200, response.text
    done = await until(client, tenant, paid["id"], "completed")
    assert done["details"]["data"] == {"ref": "A1"}

    failed = await create(client, tenant, gateway="integrator", amount=2500)
    response = await _callback(
        client, tenant, {"transaction_id": failed["id"], "status": "failed", "error_code": 51, "error_note": "no funds"}
    )
    assert response.status_code == 200
    after = await until(client, tenant, failed["id"], "failed")
    assert after["details"]["error_code"] == "51" and after["details"]["error_note"] == "no funds"


async def test_forged_or_malformed_callbacks_change_nothing(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    tx = await create(client, tenant, gateway="integrator", amount=100)
    forged = await _callback(client, tenant, {"transaction_id": tx["id"], "status": "completed"}, secret="guess" * 5)
    assert forged.status_code == 401 and forged.json()["code"] == "unauthenticated"
    unsigned = await client.post(
        f"/webhooks/integrator/{tenant.accounts['integrator']}",
        json={"transaction_id": tx["id"], "status": "completed"},
    )
    assert unsigned.status_code == 401
    raw = b"{broken"
    broken = await client.post(
        f"/webhooks/integrator/{tenant.accounts['integrator']}",
        content=raw,
        headers={"X-Billing-Signature": sign(INTEGRATOR_SECRET, raw)},
    )
    assert broken.status_code == 400
    odd = await _callback(client, tenant, {"transaction_id": tx["id"], "status": "paid"})
    assert odd.status_code == 422
    nowhere = await _callback(client, tenant, {"transaction_id": str(uuid.uuid4()), "status": "completed"})
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "transaction_not_found"
    cash = await create(client, tenant)  # this tenant's, but not this integrator account's payment
    not_ours = await _callback(client, tenant, {"transaction_id": cash["id"], "status": "completed"})
    assert not_ours.status_code == 404
    unknown = await client.post(f"/webhooks/integrator/{uuid.uuid4()}", json={})
    assert unknown.status_code == 401 and unknown.content == forged.content
    assert (await client.get(f"/v1/transactions/{tx['id']}", headers=tenant.auth)).json()["status"] == "pending"
    assert (await client.get(f"/v1/transactions/{cash['id']}", headers=tenant.auth)).json()["status"] == "pending"


async def test_pending_payments_expire_after_the_accounts_limit(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await make_tenant(engine, cipher, configs={"cash": {"expiry_seconds": 1}})
    tx = await create(client, world)
    expired = await until(client, world, tx["id"], "expired", timeout=20)
    assert expired["status"] == "expired"
    await events.wait_for(tx["id"], "transaction.expired")
    late = await client.post(f"/v1/transactions/{tx['id']}/complete", json={}, headers=world.auth)
    assert late.status_code == 409


async def test_gateway_accounts_keep_secrets_write_only(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine
) -> None:
    secret = "s3cret-value-0123456789"
    created = await client.post(
        "/v1/gateway-accounts",
        json={"gateway": "integrator", "config": {"secret": secret, "name": "pos-2"}},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert secret not in created.text and account["secrets_set"] == ["secret"]
    assert account["webhook_urls"]["status"].endswith(f"/webhooks/integrator/{account['id']}")
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                select(gateway_accounts.c.secret_config).where(gateway_accounts.c.id == uuid.UUID(account["id"]))
            )
        ).scalar_one()
    assert secret.encode() not in bytes(stored), "credentials are encrypted at rest"

    listed = await client.get("/v1/gateway-accounts", headers=tenant.auth)
    assert account["id"] in [a["id"] for a in listed.json()["items"]] and secret not in listed.text
    patched = await client.patch(
        f"/v1/gateway-accounts/{account['id']}", json={"config": {"name": "pos-3"}}, headers=tenant.auth
    )
    assert patched.status_code == 200 and patched.json()["config"]["name"] == "pos-3"
    bad = await client.patch(
        f"/v1/gateway-accounts/{account['id']}", json={"config": {"secret": "short"}}, headers=tenant.auth
    )
    assert bad.status_code == 422
    bad_add = await client.post(
        "/v1/gateway-accounts", json={"gateway": "integrator", "config": {}}, headers=tenant.auth
    )
    assert bad_add.status_code == 422 and bad_add.json()["code"] == "invalid_gateway_config"
    unknown = await client.post("/v1/gateway-accounts", json={"gateway": "nope", "config": {}}, headers=tenant.auth)
    assert unknown.status_code == 422
    assert (await client.delete(f"/v1/gateway-accounts/{account['id']}", headers=tenant.auth)).status_code == 204
    assert (await client.get(f"/v1/gateway-accounts/{account['id']}", headers=tenant.auth)).status_code == 404

    busy = tenant.accounts["cash"]
    await create(client, tenant)
    refused = await client.delete(f"/v1/gateway-accounts/{busy}", headers=tenant.auth)
    assert refused.status_code == 409
