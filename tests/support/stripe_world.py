"""A tenant with a Stripe account on its own fake Stripe, and the steps Stripe tests repeat."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.tables import webhook_log
from shared.security.cipher import Cipher
from tests.support.fakes.stripe_api import FakeStripe
from tests.support.fakes.stripe_webhooks import StripeWebhooks
from tests.support.http import until
from tests.support.world import TenantWorld, make_tenant

SUCCESS_URL = "https://shop.example/paid"


@dataclass
class StripeWorld:
    client: httpx.AsyncClient
    engine: AsyncEngine
    tenant: TenantWorld
    fake: FakeStripe
    hooks: StripeWebhooks

    @classmethod
    async def make(
        cls, client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, fake: FakeStripe
    ) -> StripeWorld:
        secret = f"whsec_{uuid.uuid4().hex}"
        config = {"api_key": fake.api_key, "webhook_secret": secret, "api_base": fake.url}
        tenant = await make_tenant(engine, cipher, configs={"stripe": config})
        return cls(client, engine, tenant, fake, StripeWebhooks(client, tenant.accounts["stripe"], secret))

    @property
    def account_id(self) -> uuid.UUID:
        return self.tenant.accounts["stripe"]

    async def create(
        self, amount: int = 10_000, currency: str = "USD", *, wait: bool = True, **extra: Any
    ) -> httpx.Response:
        details = {"success_url": SUCCESS_URL, **extra.pop("details", {})}
        body = {"gateway": "stripe", "account_id": str(self.account_id), "amount": amount, "currency": currency}
        return await self.client.post(
            f"/v1/transactions{'?wait=true' if wait else ''}",
            json={**body, "details": details, **extra},
            headers={**self.tenant.auth, "Idempotency-Key": str(uuid.uuid4())},
        )

    async def checkout(self, amount: int = 10_000, currency: str = "USD", **extra: Any) -> dict[str, Any]:
        """A pending payment with its Checkout Session made at the fake (the answer waited for the link)."""
        response = await self.create(amount, currency, **extra)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        assert created["payment_url"], created
        return created

    async def paid(
        self, amount: int = 10_000, currency: str = "USD", **extra: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A payment the customer completed and Stripe told us about: (transaction, session)."""
        tx = await self.checkout(amount, currency, **extra)
        session = self.fake.pay(tx["details"]["session_id"])
        await self.hooks.send("checkout.session.completed", session)
        return await self.until(tx["id"], "completed"), session

    async def until(self, transaction_id: str, status: str) -> dict[str, Any]:
        return await until(self.client, self.tenant, transaction_id, status)

    async def get(self, transaction_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/transactions/{transaction_id}", headers=self.tenant.auth)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def refunds(self, transaction_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/v1/transactions/{transaction_id}/refunds", headers=self.tenant.auth)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def find(self, **detail: str) -> list[dict[str, Any]]:
        """This tenant's Stripe transactions whose details hold these values."""
        filters = [{"path": [name], "op": "eq", "value": value} for name, value in detail.items()]
        response = await self.client.post(
            "/v1/transactions/search", json={"gateway": "stripe", "filters": filters}, headers=self.tenant.auth
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def logged(self, event_id: str) -> int:
        """How many times the processor stored this event (it stores it in the transaction that applies it)."""
        query = select(func.count()).where(
            webhook_log.c.account_id == self.account_id, webhook_log.c.message_id == event_id
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def applied(self, event: dict[str, Any], timeout: float = 15.0) -> None:
        """Wait until the processor committed `event` (its raw copy is written in the same transaction)."""
        deadline = time.monotonic() + timeout
        while await self.logged(event["id"]) == 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"event {event['id']} ({event['type']}) was never applied")
            await asyncio.sleep(0.1)

    async def drained(self) -> None:
        """Everything sent before is processed: a probe event behind it came through, and a moment passed."""
        probe = await self.hooks.send("test.probe", {"id": f"probe_{uuid.uuid4().hex}", "object": "probe"})
        await self.applied(probe)
        await asyncio.sleep(0.5)
