"""Resolves a create request's gateway account, keeping recent answers for a few seconds.

Accounts change rarely and every create needs one; a change made through this ingress clears the cache at
once, and other replicas see it within TTL_S. The processor re-reads the account when it creates the
transaction, so a removed account never gets a payment.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress.problems import Problem
from shared.gateways.base import GatewayAccount
from shared.persistence.repositories import account_from_row
from shared.persistence.tables import gateway_accounts
from shared.security.cipher import Cipher

TTL_S = 5.0
MAX_ENTRIES = 10_000
Key = tuple[uuid.UUID, str, uuid.UUID | None]


class AccountCache:
    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self._engine = engine
        self._cipher = cipher
        self._entries: dict[Key, tuple[float, GatewayAccount]] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def resolve(self, tenant_id: uuid.UUID, gateway: str, account_id: uuid.UUID | None) -> GatewayAccount:
        """The named account of this tenant and gateway, or its only one; a clear 422 otherwise."""
        key = (tenant_id, gateway, account_id)
        cached = self._entries.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        account = await self._load(tenant_id, gateway, account_id)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + TTL_S, account)
        return account

    async def _load(self, tenant_id: uuid.UUID, gateway: str, account_id: uuid.UUID | None) -> GatewayAccount:
        query = select(gateway_accounts).where(
            gateway_accounts.c.tenant_id == tenant_id,
            gateway_accounts.c.gateway == gateway,
            gateway_accounts.c.deleted_at.is_(None),
        )
        if account_id is not None:
            query = query.where(gateway_accounts.c.id == account_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(2))).mappings().all()
        if account_id is not None and not rows:
            raise Problem(422, "unknown_account", f"no {gateway} gateway account {account_id} for this tenant")
        if len(rows) != 1:
            detail = (
                f"this tenant has no {gateway} gateway account"
                if not rows
                else f"this tenant has several {gateway} accounts: name one with account_id"
            )
            raise Problem(422, "account_required", detail)
        return account_from_row(rows[0], self._cipher)
