"""Resolves gateway accounts for creates and webhooks, keeping recent answers for a few seconds.

Accounts change rarely and every create and gateway call needs one; a change made through this ingress (the
accounts API, a gateway call that changes the account's own key) clears the cache at once, and other replicas
see it within TTL_S. Only found accounts are kept, so a new account answers at once. The processor re-reads the
account for every change it makes, so a removed account never gets a payment.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress.problems import Problem
from shared.gateways.base import GatewayAccount
from shared.persistence.repositories import AccountDirectory
from shared.security.cipher import Cipher

TTL_S = 5.0
MAX_ENTRIES = 10_000
Key = tuple[uuid.UUID, str, uuid.UUID | None]


class AccountCache:
    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self._accounts = AccountDirectory(engine, cipher)
        self._entries: dict[Key, tuple[float, GatewayAccount]] = {}
        self._by_id: dict[tuple[str, uuid.UUID], tuple[float, GatewayAccount]] = {}

    def clear(self) -> None:
        self._entries.clear()
        self._by_id.clear()

    async def named(self, gateway: str, account_id: uuid.UUID) -> GatewayAccount | None:
        """The live account a webhook URL names (any tenant's: the account tells the tenant), or None."""
        key = (gateway, account_id)
        cached = self._by_id.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        account = await self._accounts.named(gateway, account_id)
        if account is None:
            return None
        if len(self._by_id) >= MAX_ENTRIES:
            self._by_id.clear()
        self._by_id[key] = (time.monotonic() + TTL_S, account)
        return account

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
        if account_id is None:
            found = await self._accounts.first_two_of(tenant_id, gateway)
        else:
            named = await self._accounts.get(tenant_id, account_id)
            found = [named] if named is not None and named.gateway == gateway else []
        if account_id is not None and not found:
            raise Problem(422, "unknown_account", f"no {gateway} gateway account {account_id} for this tenant")
        if len(found) != 1:
            detail = (
                f"this tenant has no {gateway} gateway account"
                if not found
                else f"this tenant has several {gateway} accounts: name one with account_id"
            )
            raise Problem(422, "account_required", detail)
        return found[0]
