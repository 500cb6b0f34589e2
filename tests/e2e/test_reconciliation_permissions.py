"""A settlement file completes payments only for a key that also holds billing.create; else it lists them."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.api_keys import create_api_key
from shared.security.apikeys import Permission
from tests.e2e.test_reconciliation import HEADER, _csv, _finished, _period
from tests.support.http import create, until
from tests.support.world import TenantWorld


async def upload(client: httpx.AsyncClient, tenant: TenantWorld, key: str, transaction_id: str) -> str:
    rows = [["g-1", transaction_id, "3000", "UZS", "completed", "0"]]
    assert len(rows[0]) == len(HEADER)
    started = await client.post(
        "/v1/reconciliations",
        data={"account_id": str(tenant.accounts["cash"]), **_period()},
        files={"file": ("settlement.csv", _csv(rows), "text/csv")},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert started.status_code == 202, started.text
    run_id: str = started.json()["id"]
    return run_id


async def test_a_file_from_a_reconcile_only_key_lists_the_difference_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine
) -> None:
    pending = await create(client, tenant, amount=3000)
    audit = (await client.get(f"/v1/transactions/{pending['id']}/audit", headers=tenant.auth)).json()
    reconciler = await create_api_key(engine, tenant.tenant_id, [Permission.RECONCILE])

    run_id = await upload(client, tenant, reconciler.secret, pending["id"])
    view = await _finished(client, TenantWorld(tenant.tenant_id, reconciler.secret), run_id)

    assert view["status"] == "completed" and view["applies_fixes"] is False, view
    [difference] = view["differences"]
    assert (difference["kind"], difference["resolution"]) == ("status_differs", "needs_attention")
    assert difference["transaction_id"] == pending["id"] and view["counts"]["fixed"] == 0
    await asyncio.sleep(1.0)  # a fix, had one been made, would be visible by now
    after = (await client.get(f"/v1/transactions/{pending['id']}", headers=tenant.auth)).json()
    assert after["status"] == "pending"
    assert (await client.get(f"/v1/transactions/{pending['id']}/audit", headers=tenant.auth)).json() == audit


async def test_a_file_from_a_key_that_may_also_create_fixes_the_pending_payment(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine
) -> None:
    pending = await create(client, tenant, amount=3000)
    both = await create_api_key(engine, tenant.tenant_id, [Permission.RECONCILE, Permission.CREATE])

    run_id = await upload(client, tenant, both.secret, pending["id"])
    view = await _finished(client, TenantWorld(tenant.tenant_id, both.secret), run_id)

    assert view["status"] == "completed" and view["applies_fixes"] is True, view
    [difference] = view["differences"]
    assert difference["resolution"] == "fixed" and view["counts"]["fixed"] == 1
    await until(client, tenant, pending["id"], "completed")
