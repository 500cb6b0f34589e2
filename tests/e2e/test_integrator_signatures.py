"""Integrator callbacks signed with a timestamp: a replay after 301 s is refused and changes nothing; the
previous secret works while it is set; legacy accounts keep `sha256=`."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.integrator import SIGNATURE_HEADER, sign, sign_legacy
from shared.security.cipher import Cipher
from tests.support.http import create, until
from tests.support.world import INTEGRATOR_SECRET, TenantWorld, make_tenant

NEW_SECRET = "integrator-secret-rotated-42"


async def _post(client: httpx.AsyncClient, world: TenantWorld, raw: bytes, signature: str) -> httpx.Response:
    return await client.post(
        f"/webhooks/integrator/{world.accounts['integrator']}",
        content=raw,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
    )


def _completed(tx: dict[str, Any]) -> bytes:
    return json.dumps({"transaction_id": tx["id"], "status": "completed"}).encode()


async def test_a_callback_replayed_after_301_seconds_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    tx = await create(client, tenant, gateway="integrator", amount=700)
    raw = _completed(tx)
    captured = sign(INTEGRATOR_SECRET, raw, at=int(time.time()) - 301)  # the same body and signature, 301 s on
    replayed = await _post(client, tenant, raw, captured)
    assert replayed.status_code == 401 and replayed.json()["status"] == 401
    from_the_future = await _post(client, tenant, raw, sign(INTEGRATOR_SECRET, raw, at=int(time.time()) + 301))
    assert from_the_future.status_code == 401
    unsigned_time = await _post(client, tenant, raw, captured.split(",", 1)[1])
    assert unsigned_time.status_code == 401
    await client.get("/health/live")  # give a wrongly accepted command time to land
    assert (await client.get(f"/v1/transactions/{tx['id']}", headers=tenant.auth)).json()["status"] == "pending"

    recent = await _post(client, tenant, raw, sign(INTEGRATOR_SECRET, raw, at=int(time.time()) - 290))
    assert recent.status_code == 200, recent.text
    await until(client, tenant, tx["id"], "completed")


async def test_the_previous_secret_is_accepted_while_it_is_set(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    account = f"/v1/gateway-accounts/{tenant.accounts['integrator']}"
    rotated = await client.patch(
        account, json={"config": {"secret": NEW_SECRET, "previous_secret": INTEGRATOR_SECRET}}, headers=tenant.auth
    )
    assert rotated.status_code == 200, rotated.text
    assert sorted(rotated.json()["secrets_set"]) == ["previous_secret", "secret"]
    by_old = await create(client, tenant, gateway="integrator", amount=800)
    by_new = await create(client, tenant, gateway="integrator", amount=900)
    assert (await _post(client, tenant, _completed(by_old), sign(INTEGRATOR_SECRET, _completed(by_old)))).is_success
    assert (await _post(client, tenant, _completed(by_new), sign(NEW_SECRET, _completed(by_new)))).is_success
    await until(client, tenant, by_old["id"], "completed")
    await until(client, tenant, by_new["id"], "completed")

    dropped = await client.patch(account, json={"config": {"previous_secret": None}}, headers=tenant.auth)
    assert dropped.status_code == 200, dropped.text
    late = await create(client, tenant, gateway="integrator", amount=1000)
    refused = await _post(client, tenant, _completed(late), sign(INTEGRATOR_SECRET, _completed(late)))
    assert refused.status_code == 401
    assert (await client.get(f"/v1/transactions/{late['id']}", headers=tenant.auth)).json()["status"] == "pending"


async def test_a_legacy_account_keeps_the_first_rounds_form(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    config = {"secret": INTEGRATOR_SECRET, "name": "old-pos", "signature": "legacy"}
    legacy = await make_tenant(engine, cipher, configs={"integrator": config})
    tx = await create(client, legacy, gateway="integrator", amount=1100)
    raw = _completed(tx)
    timestamped = await _post(client, legacy, raw, sign(INTEGRATOR_SECRET, raw))
    assert timestamped.status_code == 401
    accepted = await _post(client, legacy, raw, sign_legacy(INTEGRATOR_SECRET, raw))
    assert accepted.status_code == 200, accepted.text
    await until(client, legacy, tx["id"], "completed")

    other = await create(client, tenant, gateway="integrator", amount=1200)  # a default account: never sha256=
    old_form = await _post(client, tenant, _completed(other), sign_legacy(INTEGRATOR_SECRET, _completed(other)))
    assert old_form.status_code == 401
