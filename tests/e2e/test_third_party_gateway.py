"""A third-party gateway, installed beside the service, is a gateway: examples/gateways/bank_transfer end to end.

The distribution is installed into the venv (`make install-dev`, or the session's start: tests/support/installed.py)
and found through its `billing.gateways` entry point; nothing in services/ or shared/ names it. These tests speak
to it only as its bank would: HTTP with its own signature, answered in its own format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from importlib.metadata import entry_points
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.tables import webhook_log
from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.http import create, until
from tests.support.world import TenantWorld, make_tenant

GATEWAY = "bank_transfer"
SECRET = "bank-callback-secret-0123456789"
CONFIG = {"secret": SECRET, "beneficiary": "Acme LLC", "account_number": "20208000900100001001"}


def _signature(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _bank_tenant(client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher) -> TenantWorld:
    """A tenant whose bank transfer account is added through the public API, like any gateway's."""
    world = await make_tenant(engine, cipher, configs={"cash": {}})
    added = await client.post("/v1/gateway-accounts", json={"gateway": GATEWAY, "config": CONFIG}, headers=world.auth)
    assert added.status_code == 201, added.text
    account = added.json()
    assert account["secrets_set"] == ["secret"] and SECRET not in added.text
    assert account["webhook_urls"]["callback"].endswith(f"/webhooks/{GATEWAY}/{account['id']}")
    world.accounts[GATEWAY] = uuid.UUID(account["id"])
    return world


async def _callback(
    client: httpx.AsyncClient, world: TenantWorld, payload: dict[str, Any], secret: str = SECRET
) -> httpx.Response:
    raw = json.dumps(payload).encode()
    return await client.post(
        f"/webhooks/{GATEWAY}/{world.accounts[GATEWAY]}",
        content=raw,
        headers={"Content-Type": "application/json", "X-Bank-Signature": _signature(raw, secret)},
    )


def _transfer(tx: dict[str, Any], **changes: Any) -> dict[str, Any]:
    reference = f"BNK-{uuid.uuid4().hex[:12]}"
    base = {"transaction_id": tx["id"], "status": "credited", "amount": tx["amount"], "currency": tx["currency"]}
    return {**base, "bank_reference": reference, **changes}


def test_the_example_is_installed_as_a_plugin_of_its_own_distribution() -> None:
    (point,) = [p for p in entry_points(group="billing.gateways") if p.name == GATEWAY]
    assert point.dist is not None and point.dist.name == "billing-bank-transfer"
    assert point.value == "billing_bank_transfer:MANIFEST"


async def test_the_signed_callback_completes_the_payment_and_the_event_goes_out(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await _bank_tenant(client, engine, cipher)
    tx = await create(client, world, gateway=GATEWAY, amount=1_250_000, details={"payer_reference": "INV-7"})
    assert tx["status"] == "pending" and tx["gateway"] == GATEWAY and tx["payment_url"] is None
    await events.wait_for(tx["id"], "transaction.created")

    transfer = _transfer(tx)
    answer = await _callback(client, world, transfer)
    assert answer.status_code == 200 and answer.json() == {"status": "accepted"}, answer.text
    done = await until(client, world, tx["id"], "completed")
    assert done["details"] == {"payer_reference": "INV-7", "bank_reference": transfer["bank_reference"]}
    completed = await events.wait_for(tx["id"], "transaction.completed")
    assert completed.body["data"]["status"] == "completed" and completed.body["tenantid"] == str(world.tenant_id)

    again = await _callback(client, world, transfer)  # banks resend: the same answer, nothing moves twice
    assert again.status_code == 200 and again.json() == {"status": "accepted"}
    async with engine.connect() as conn:
        logged = (
            await conn.execute(select(webhook_log.c.gateway).where(webhook_log.c.account_id == world.accounts[GATEWAY]))
        ).scalars()
        assert list(logged) == [GATEWAY, GATEWAY], "each raw callback is kept"
    assert len(events.of(tx["id"], "transaction.completed")) == 1


async def test_a_rejected_transfer_fails_the_payment(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await _bank_tenant(client, engine, cipher)
    tx = await create(client, world, gateway=GATEWAY, amount=5_000)
    answer = await _callback(client, world, _transfer(tx, status="rejected", note="account closed"))
    assert answer.status_code == 200, answer.text
    failed = await until(client, world, tx["id"], "failed")
    assert failed["details"]["rejection_note"] == "account closed"
    await events.wait_for(tx["id"], "transaction.failed")


async def test_forged_wrong_or_foreign_callbacks_change_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await _bank_tenant(client, engine, cipher)
    tx = await create(client, world, gateway=GATEWAY, amount=9_900)

    forged = await _callback(client, world, _transfer(tx), secret="a-guessed-secret-0000")
    assert forged.status_code == 401 and forged.json() == {"status": "refused", "reason": "signature"}
    nowhere = await client.post(f"/webhooks/{GATEWAY}/{uuid.uuid4()}", content=b"{}")
    assert nowhere.status_code == 401 and nowhere.content == forged.content
    short = await _callback(client, world, _transfer(tx, amount=9_000))
    assert short.status_code == 422 and short.json()["reason"] == "amount_mismatch"
    malformed = await _callback(client, world, {"transaction_id": tx["id"], "status": "credited"})
    assert malformed.status_code == 400
    unknown = await _callback(client, world, _transfer(tx, transaction_id=str(uuid.uuid4())))
    assert unknown.status_code == 404
    cash = await create(client, world)  # this tenant's payment, of another gateway
    foreign = await _callback(client, world, _transfer(cash))
    assert foreign.status_code == 404
    refund = await client.post(f"/v1/transactions/{tx['id']}/refunds", json={}, headers=world.auth)
    assert refund.status_code == 409  # pending: nothing to refund yet

    for transaction_id in (tx["id"], cash["id"]):
        current = await client.get(f"/v1/transactions/{transaction_id}", headers=world.auth)
        assert current.json()["status"] == "pending"


async def test_its_declared_capabilities_refuse_refunds_before_anything_is_sent(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await _bank_tenant(client, engine, cipher)
    tx = await create(client, world, gateway=GATEWAY, amount=3_000)
    assert (await _callback(client, world, _transfer(tx))).status_code == 200
    await until(client, world, tx["id"], "completed")

    refund = await client.post(f"/v1/transactions/{tx['id']}/refunds", json={}, headers=world.auth)
    assert refund.status_code == 422 and refund.json()["code"] == "refund_not_supported", refund.text
    assert "transfer back" in refund.json()["detail"]
