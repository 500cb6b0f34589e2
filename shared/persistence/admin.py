"""Tenants and gateway accounts: the administrative writes (CLI and the accounts API); keys: api_keys.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.gateways.base import (
    GatewayAccount,
    GatewayAdapter,
    check_config,
    require_secrets_for_new_urls,
    split_secrets,
)
from shared.persistence import driver
from shared.persistence.repositories import account_from_row
from shared.persistence.tables import gateway_accounts, tenants, transactions
from shared.security.cipher import Cipher


class AccountInUse(Exception):
    """A gateway account with pending transactions cannot be removed."""


@dataclass(frozen=True, slots=True)
class AccountView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    gateway: str
    public_config: dict[str, Any]
    secret_names: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


async def create_tenant(engine: AsyncEngine, name: str, reporting_currency: str = "UZS") -> uuid.UUID:
    tenant_id = uuid.uuid4()
    async with driver.core(engine, begin=True) as conn:
        await conn.execute(insert(tenants).values(id=tenant_id, name=name, reporting_currency=reporting_currency))
    return tenant_id


async def tenant_view(engine: AsyncEngine, tenant_id: uuid.UUID) -> dict[str, Any] | None:
    """The tenant as `GET /v1/tenant` shows it."""
    query = select(tenants.c.id, tenants.c.name, tenants.c.reporting_currency).where(tenants.c.id == tenant_id)
    async with driver.core(engine) as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else {"id": str(row.id), "name": row.name, "reporting_currency": row.reporting_currency}


async def owner_of_transaction(engine: AsyncEngine, transaction_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    """The operator's look-up (the CLI names a transaction only): its tenant and its gateway."""
    query = select(transactions.c.tenant_id, transactions.c.gateway).where(transactions.c.id == transaction_id)
    async with driver.core(engine) as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else (row.tenant_id, row.gateway)


async def set_reporting_currency(engine: AsyncEngine, tenant_id: uuid.UUID, code: str) -> dict[str, Any] | None:
    """Change the currency the tenant books in; conversions already stored keep the currency they were made in."""
    async with driver.core(engine, begin=True) as conn:
        await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(reporting_currency=code))
    return await tenant_view(engine, tenant_id)


async def tenant_exists(engine: AsyncEngine, tenant_id: uuid.UUID) -> bool:
    async with driver.core(engine) as conn:
        return (await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id))).first() is not None


class GatewayAccounts:
    """Accounts of one tenant; secrets are sealed with the cipher and never read back out through here."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher, tenant_id: uuid.UUID) -> None:
        self._engine = engine
        self._cipher = cipher
        self._tenant_id = tenant_id

    async def add(self, adapter: GatewayAdapter, raw_config: object) -> AccountView:
        config = check_config(adapter, raw_config)
        public, secret = split_secrets(adapter, config)
        account_id = uuid.uuid4()
        async with driver.core(self._engine, begin=True) as conn:
            await conn.execute(
                insert(gateway_accounts).values(
                    id=account_id,
                    tenant_id=self._tenant_id,
                    gateway=adapter.name,
                    public_config=public,
                    secret_config=self._cipher.seal(secret),
                )
            )
        view = await self.get(account_id)
        assert view is not None
        return view

    async def update(self, adapter: GatewayAdapter, account_id: uuid.UUID, changes: object) -> AccountView | None:
        """Merge `changes` into the stored config (secrets included) and check the result as a whole."""
        if not isinstance(changes, dict):
            check_config(adapter, changes)
        async with driver.core(self._engine, begin=True) as conn:
            row = (await conn.execute(self._one(account_id).with_for_update())).mappings().first()
            if row is None:
                return None
            current = {**row["public_config"], **self._cipher.open(row["secret_config"])}
            config = check_config(adapter, {**current, **changes})  # type: ignore[dict-item]
            require_secrets_for_new_urls(adapter, current, changes, config)  # type: ignore[arg-type]
            public, secret = split_secrets(adapter, config)
            await conn.execute(
                update(gateway_accounts)
                .where(gateway_accounts.c.id == account_id)
                .values(public_config=public, secret_config=self._cipher.seal(secret), updated_at=utc_now())
            )
        return await self.get(account_id)

    async def remove(self, account_id: uuid.UUID) -> bool:
        async with driver.core(self._engine, begin=True) as conn:
            row = (await conn.execute(self._one(account_id).with_for_update())).first()
            if row is None:
                return False
            pending = await conn.execute(
                select(func.count()).where(
                    transactions.c.tenant_id == self._tenant_id,
                    transactions.c.account_id == account_id,
                    transactions.c.status == "pending",
                    transactions.c.deleted_at.is_(None),
                )
            )
            if pending.scalar_one():
                raise AccountInUse("the account has pending transactions; cancel or finish them first")
            await conn.execute(
                update(gateway_accounts).where(gateway_accounts.c.id == account_id).values(deleted_at=utc_now())
            )
        return True

    async def get(self, account_id: uuid.UUID) -> AccountView | None:
        async with driver.core(self._engine) as conn:
            row = (await conn.execute(self._one(account_id))).mappings().first()
        return None if row is None else self._view(row)

    async def all(self) -> list[AccountView]:
        query = (
            select(gateway_accounts)
            .where(gateway_accounts.c.tenant_id == self._tenant_id, gateway_accounts.c.deleted_at.is_(None))
            .order_by(gateway_accounts.c.created_at)
        )
        async with driver.core(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [self._view(row) for row in rows]

    def _one(self, account_id: uuid.UUID) -> Any:
        return select(gateway_accounts).where(
            gateway_accounts.c.tenant_id == self._tenant_id,
            gateway_accounts.c.id == account_id,
            gateway_accounts.c.deleted_at.is_(None),
        )

    def _view(self, row: Any) -> AccountView:
        return AccountView(
            id=row["id"],
            tenant_id=row["tenant_id"],
            gateway=row["gateway"],
            public_config=dict(row["public_config"]),
            secret_names=tuple(sorted(self._cipher.open(row["secret_config"]))),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def webhook_urls(public_url: str, adapter: GatewayAdapter, account_id: uuid.UUID) -> dict[str, str]:
    return {name: f"{public_url}{path}" for name, path in adapter.webhook_paths(account_id).items()}


def account_json(view: AccountView, adapter: GatewayAdapter, public_url: str) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "tenant_id": str(view.tenant_id),
        "gateway": view.gateway,
        "config": view.public_config,
        "secrets_set": list(view.secret_names),
        "webhook_urls": webhook_urls(public_url, adapter, view.id),
        "created_at": view.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": view.updated_at.isoformat().replace("+00:00", "Z"),
    }


async def transaction_exists(engine: AsyncEngine, transaction_id: uuid.UUID) -> bool:
    """Whether a transaction of any tenant has this id (an operator's tool, never a request's)."""
    async with driver.core(engine) as conn:
        found = await conn.execute(select(transactions.c.id).where(transactions.c.id == transaction_id))
        return found.first() is not None


async def live_account(engine: AsyncEngine, cipher: Cipher, account_id: uuid.UUID) -> GatewayAccount | None:
    """A live gateway account of any tenant, its secrets opened (an operator's tool, never a request's)."""
    query = select(gateway_accounts).where(gateway_accounts.c.id == account_id, gateway_accounts.c.deleted_at.is_(None))
    async with driver.core(engine) as conn:
        row = (await conn.execute(query)).mappings().first()
    return None if row is None else account_from_row(row, cipher)


async def sealed_accounts(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every live gateway account with its configuration still sealed: what `billing doctor` checks."""
    query = select(
        gateway_accounts.c.id,
        gateway_accounts.c.gateway,
        gateway_accounts.c.public_config,
        gateway_accounts.c.secret_config,
    ).where(gateway_accounts.c.deleted_at.is_(None))
    async with driver.core(engine) as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]
