"""Small HTTP helpers for end-to-end tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from tests.support.world import TenantWorld


async def create(
    client: httpx.AsyncClient,
    world: TenantWorld,
    gateway: str = "cash",
    amount: int = 150_000,
    currency: str = "UZS",
    **extra: Any,
) -> dict[str, Any]:
    body = {"gateway": gateway, "account_id": str(world.accounts[gateway]), "amount": amount, "currency": currency}
    response = await client.post(
        "/v1/transactions?wait=true",
        json={**body, **extra},
        headers={**world.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def until(
    client: httpx.AsyncClient, world: TenantWorld, transaction_id: str, status: str, timeout: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/v1/transactions/{transaction_id}", headers=world.auth)
        if response.status_code == 200:
            last = response.json()
            if last["status"] == status:
                return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"transaction {transaction_id} never reached {status}; last seen {last}")


async def paid(client: httpx.AsyncClient, world: TenantWorld, amount: int = 150_000) -> dict[str, Any]:
    """A completed cash payment."""
    tx = await create(client, world, amount=amount)
    response = await client.post(f"/v1/transactions/{tx['id']}/complete", json={}, headers=world.auth)
    assert response.status_code == 202, response.text
    return await until(client, world, tx["id"], "completed")
