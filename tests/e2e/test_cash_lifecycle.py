"""A cash payment from HTTP in to the events a consumer receives."""

from __future__ import annotations

import uuid

import httpx

from tests.support.events import EventLog
from tests.support.http import create, paid, until
from tests.support.world import TenantWorld

FIELDS = {
    "id", "tenant_id", "account_id", "gateway", "status", "amount", "refunded_amount", "currency", "reporting",
    "details", "metadata", "payment_url", "created_at", "updated_at",
}  # fmt: skip


async def test_create_complete_refund_emits_one_event_per_change(
    client: httpx.AsyncClient, tenant: TenantWorld, events: EventLog
) -> None:
    tx = await create(client, tenant, metadata={"project_id": "p-1", "stage_id": "s-1"}, details={"data": {"n": 1}})
    assert set(tx) == FIELDS
    assert tx["status"] == "pending" and tx["amount"] == 150_000 and tx["refunded_amount"] == 0

    assert (await client.post(f"/v1/transactions/{tx['id']}/complete", json={}, headers=tenant.auth)).status_code == 202
    await until(client, tenant, tx["id"], "completed")
    refund = await client.post(
        f"/v1/transactions/{tx['id']}/refunds",
        json={"amount": 50_000, "reason": "damaged"},
        headers={**tenant.auth, "Idempotency-Key": "r-1"},
    )
    assert refund.status_code == 202 and refund.json()["status"] == "requested"
    partial = await until(client, tenant, tx["id"], "partially_refunded")
    assert partial["refunded_amount"] == 50_000
    rest = await client.post(f"/v1/transactions/{tx['id']}/refunds", json={}, headers=tenant.auth)
    assert rest.status_code == 202 and rest.json()["amount"] == 100_000
    done = await until(client, tenant, tx["id"], "refunded")
    assert done["refunded_amount"] == 150_000

    final = await events.wait_for(tx["id"], "transaction.refunded")
    kinds = [r.routing_key for r in events.of(tx["id"])]
    for kind in ("transaction.created", "transaction.completed", "refund.requested", "refund.succeeded",
                 "transaction.partially_refunded", "transaction.refunded"):  # fmt: skip
        assert kind in kinds
    ids = [r.message_id for r in events.of(tx["id"])]
    assert len(ids) == len(set(ids)), "each change has exactly one event id"
    body = final.body
    assert body["specversion"] == "1.0" and body["type"] == "billing.transaction.refunded"
    assert body["source"] == "billing" and body["tenantid"] == str(tenant.tenant_id)
    assert body["id"] == final.message_id and body["subject"] == tx["id"]
    assert body["data"]["metadata"] == {"project_id": "p-1", "stage_id": "s-1"}
    refund_event = await events.wait_for(tx["id"], "refund.succeeded")
    assert refund_event.body["data"]["refund"]["amount"] in (50_000, 100_000)

    refunds = (await client.get(f"/v1/transactions/{tx['id']}/refunds", headers=tenant.auth)).json()["items"]
    assert [r["status"] for r in refunds] == ["succeeded", "succeeded"]
    assert sum(r["amount"] for r in refunds) == 150_000

    audit = (await client.get(f"/v1/transactions/{tx['id']}/audit", headers=tenant.auth)).json()["items"]
    actions = [entry["action"] for entry in audit]
    assert actions[:2] == ["create", "complete"] and "refund.apply" in actions
    assert all(entry["actor"].startswith("apikey:") for entry in audit)
    complete = next(e for e in audit if e["action"] == "complete")
    assert complete["before"]["status"] == "pending" and complete["after"]["status"] == "completed"


async def test_idempotency_key_replays_and_refuses_other_bodies(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    key = str(uuid.uuid4())
    body = {"gateway": "cash", "account_id": str(tenant.accounts["cash"]), "amount": 700, "currency": "USD"}
    first = await client.post("/v1/transactions", json=body, headers={**tenant.auth, "Idempotency-Key": key})
    again = await client.post("/v1/transactions", json=body, headers={**tenant.auth, "Idempotency-Key": key})
    other = await client.post(
        "/v1/transactions", json={**body, "amount": 701}, headers={**tenant.auth, "Idempotency-Key": key}
    )
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    await until(client, tenant, first.json()["id"], "pending")
    count = await client.get("/v1/transactions/count", headers=tenant.auth, params={"currency": "USD"})
    assert count.json() == {"count": 1}


async def test_cancel_and_delete(client: httpx.AsyncClient, tenant: TenantWorld, events: EventLog) -> None:
    tx = await create(client, tenant)
    canceled = await client.post(
        f"/v1/transactions/{tx['id']}/cancel", json={"reason": "changed mind"}, headers=tenant.auth
    )
    assert canceled.status_code == 202
    after = await until(client, tenant, tx["id"], "canceled")
    assert after["details"]["cancel_reason"] == "changed mind"
    again = await client.post(f"/v1/transactions/{tx['id']}/cancel", json={}, headers=tenant.auth)
    assert again.status_code == 409

    assert (await client.delete(f"/v1/transactions/{tx['id']}", headers=tenant.auth)).status_code == 202
    await events.wait_for(tx["id"], "transaction.deleted")
    assert (await client.get(f"/v1/transactions/{tx['id']}", headers=tenant.auth)).status_code == 404

    completed = await paid(client, tenant)
    refused = await client.delete(f"/v1/transactions/{completed['id']}", headers=tenant.auth)
    assert refused.status_code == 409 and refused.json()["code"] == "transaction_was_paid"


async def test_wait_true_answers_201_once_processed(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    tx = await create(client, tenant, amount=1)
    fetched = await client.get(f"/v1/transactions/{tx['id']}", headers=tenant.auth)
    assert fetched.status_code == 200 and fetched.json()["id"] == tx["id"]
