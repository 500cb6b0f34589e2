"""A webhook for an unknown account and one with a bad signature get the same answer, byte for byte."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.click.shop import Operation
from shared.gateways.click.simulate import click_request, new_click_ids
from shared.gateways.payme.protocol import basic_header
from shared.security.cipher import Cipher
from tests.support.world import TenantWorld, make_tenant

CONFIGS: dict[str, dict[str, Any]] = {
    "octo": {"shop_id": 42, "secret": "octo-secret", "unique_key": "octo-unique-key", "api_base": "http://127.0.0.1:9"},
    "stripe": {"api_key": "sk_test_enum", "webhook_secret": "whsec_enum0123456789", "api_base": "http://127.0.0.1:9"},
    "integrator": {"secret": "integrator-secret-enum-0123", "name": "enum"},
    "click": {
        "service_id": 9_431,
        "merchant_id": 1_207,
        "merchant_user_id": 77,
        "secret_key": "click-secret-enum",
        "api_base": "http://127.0.0.1:9",
    },
    "payme": {"merchant_id": "587f72c72cac0d162c722ae2", "key": "payme-live-key-enum"},
    "cash": {},
}


async def world(engine: AsyncEngine, cipher: Cipher) -> TenantWorld:
    return await make_tenant(engine, cipher, configs=CONFIGS)


def same(unknown: httpx.Response, forged: httpx.Response) -> None:
    assert unknown.status_code == forged.status_code
    assert unknown.headers["content-type"] == forged.headers["content-type"]
    assert unknown.content == forged.content, (unknown.text, forged.text)


async def test_octo_stripe_and_integrator_answer_401_alike(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    tenant = await world(engine, cipher)
    octo_notify = {
        "shop_transaction_id": str(uuid.uuid4()),
        "octo_payment_UUID": str(uuid.uuid4()),
        "status": "succeeded",
        "signature": "0" * 40,
        "hash_key": "x",
        "total_sum": 1000.0,
    }
    stripe_event = json.dumps({"id": "evt_enum", "object": "event", "type": "checkout.session.completed"})
    calls: dict[str, tuple[bytes, dict[str, str]]] = {
        "octo": (json.dumps(octo_notify).encode(), {"Content-Type": "application/json"}),
        "stripe": (stripe_event.encode(), {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"}),
        "integrator": (
            json.dumps({"transaction_id": str(uuid.uuid4()), "status": "completed"}).encode(),
            {"X-Billing-Signature": "sha256=" + "0" * 64},
        ),
    }
    for gateway, (body, headers) in calls.items():
        forged = await client.post(f"/webhooks/{gateway}/{tenant.accounts[gateway]}", content=body, headers=headers)
        assert forged.status_code == 401, (gateway, forged.text)
        assert forged.headers["content-type"].startswith("application/problem+json")
        assert forged.json()["code"] == "unauthenticated"
        for nobody in (uuid.uuid4(), tenant.accounts["cash"], "not-an-id"):
            same(await client.post(f"/webhooks/{gateway}/{nobody}", content=body, headers=headers), forged)


async def test_click_answers_minus_1_alike_and_checks_the_sign_before_the_service_id(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    tenant = await world(engine, cipher)
    config = CONFIGS["click"]
    for operation in (Operation.PREPARE, Operation.COMPLETE):
        fields = click_request(
            "not-the-secret",
            operation,
            service_id=config["service_id"],
            merchant_trans_id=str(uuid.uuid4()),
            amount="1000.00",
            click_trans_id=new_click_ids()[0],
            click_paydoc_id=new_click_ids()[1],
            merchant_prepare_id=5 if operation is Operation.COMPLETE else None,
        )
        path = f"/webhooks/click/{{}}/{operation.value}"
        forged = await client.post(path.format(tenant.accounts["click"]), data=fields)
        assert forged.status_code == 200 and forged.json()["error"] == -1, forged.text
        for nobody in (uuid.uuid4(), tenant.accounts["cash"], "not-an-id"):
            same(await client.post(path.format(nobody), data=fields), forged)
        # Guessing the service_id teaches nothing: a wrong one unsigned is the same -1, not "does not match".
        other_service = {**fields, "service_id": str(config["service_id"] + 1)}
        guessed = await client.post(path.format(tenant.accounts["click"]), data=other_service)
        assert guessed.json()["error"] == -1 and guessed.json()["error_note"] == forged.json()["error_note"]


async def test_payme_answers_minus_32504_alike(client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher) -> None:
    tenant = await world(engine, cipher)
    call = {"jsonrpc": "2.0", "id": 7, "method": "CheckPerformTransaction", "params": {"amount": 100, "account": {}}}
    headers = {"Authorization": basic_header("a-wrong-key")}
    forged = await client.post(f"/webhooks/payme/{tenant.accounts['payme']}", json=call, headers=headers)
    assert forged.status_code == 200 and forged.json()["error"]["code"] == -32504, forged.text
    for nobody in (uuid.uuid4(), tenant.accounts["cash"], "not-an-id"):
        same(await client.post(f"/webhooks/payme/{nobody}", json=call, headers=headers), forged)
