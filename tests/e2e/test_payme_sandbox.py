"""Payme's test_key opens only accounts marked `"sandbox": true`; on a live account it is a wrong key."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from tests.e2e.test_payme import created, order, show
from tests.support.http import until
from tests.support.payme import Payme, payme_tenant

TEST_KEY = "payme-sandbox-key-0123"


async def test_the_test_key_cannot_perform_or_cancel_on_a_live_account(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher, test_key=TEST_KEY)
    payme = Payme(client, world.accounts["payme"])
    tx = await order(client, world, "live-1")
    ours, first = await created(payme, "live-1")  # with the live key
    assert first["state"] == 1
    trail = (await client.get(f"/v1/transactions/{tx['id']}/audit", headers=world.auth)).json()

    assert (await payme.error("PerformTransaction", {"id": ours}, key=TEST_KEY))["code"] == -32504
    assert (await payme.error("CancelTransaction", {"id": ours, "reason": 5}, key=TEST_KEY))["code"] == -32504
    check = {"amount": 1_500_000, "account": {"order_id": "live-1"}}
    assert (await payme.error("CheckPerformTransaction", check, key=TEST_KEY))["code"] == -32504

    await asyncio.sleep(0.5)
    assert (await payme.result("CheckTransaction", {"id": ours}))["state"] == 1
    assert (await show(client, world, tx["id"]))["status"] == "pending"
    assert (await client.get(f"/v1/transactions/{tx['id']}/audit", headers=world.auth)).json() == trail


async def test_the_test_key_performs_and_cancels_on_a_sandbox_account(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher, test_key=TEST_KEY, sandbox=True)
    payme = Payme(client, world.accounts["payme"], key=TEST_KEY)
    tx = await order(client, world, "sandbox-1")
    ours, _ = await created(payme, "sandbox-1")
    assert (await payme.result("PerformTransaction", {"id": ours}))["state"] == 2
    await until(client, world, tx["id"], "completed")
    assert (await payme.result("CancelTransaction", {"id": ours, "reason": 5}))["state"] == -2
    await until(client, world, tx["id"], "refunded")
