"""API keys of a tenant: issued once, listed without their secret, revoked, expired, and touched when used."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.domain.transaction import rfc3339
from shared.persistence import driver
from shared.persistence.tables import api_keys
from shared.security.apikeys import IssuedKey, Permission, Principal, issue_key, key_id_of, matches

TOUCH_EVERY = timedelta(minutes=1)
"""`last_used_at` is written at most this often per key: a busy key must not write on every request."""


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str | None
    permissions: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """The key as the API and the CLI show it: never its secret."""
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": list(self.permissions),
            "created_at": rfc3339(self.created_at),
            "expires_at": None if self.expires_at is None else rfc3339(self.expires_at),
            "last_used_at": None if self.last_used_at is None else rfc3339(self.last_used_at),
        }


class ApiKeys:
    """The keys of one tenant; the secret exists only in what `issue` returns."""

    def __init__(self, engine: AsyncEngine, tenant_id: uuid.UUID) -> None:
        self._engine = engine
        self._tenant_id = tenant_id

    async def issue(
        self, permissions: list[Permission], name: str | None = None, expires_at: datetime | None = None
    ) -> tuple[IssuedKey, ApiKeyView]:
        issued = issue_key()
        async with driver.core(self._engine, begin=True) as conn:
            row = (
                (
                    await conn.execute(
                        insert(api_keys)
                        .values(
                            id=issued.id,
                            tenant_id=self._tenant_id,
                            key_hash=issued.key_hash,
                            permissions=sorted({p.value for p in permissions}),
                            name=name,
                            expires_at=expires_at,
                        )
                        .returning(*VIEW_COLUMNS)
                    )
                )
                .mappings()
                .one()
            )
        return issued, _view(row)

    async def live(self) -> list[ApiKeyView]:
        """The tenant's keys that are not revoked (expired ones too: their `expires_at` says so), oldest first."""
        query = (
            select(*VIEW_COLUMNS)
            .where(api_keys.c.tenant_id == self._tenant_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.created_at, api_keys.c.id)
        )
        async with driver.core(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_view(row) for row in rows]

    async def revoke(self, key_id: uuid.UUID) -> bool:
        """Revoke a live key of this tenant; False when there is none (absent, another tenant's, or revoked)."""
        statement = (
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.tenant_id == self._tenant_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utc_now())
            .returning(api_keys.c.id)
        )
        async with driver.core(self._engine, begin=True) as conn:
            return (await conn.execute(statement)).first() is not None


VIEW_COLUMNS = (
    api_keys.c.id,
    api_keys.c.tenant_id,
    api_keys.c.name,
    api_keys.c.permissions,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.last_used_at,
)


def _view(row: object) -> ApiKeyView:
    values = dict(row)  # type: ignore[call-overload]
    return ApiKeyView(
        id=values["id"],
        tenant_id=values["tenant_id"],
        name=values["name"],
        permissions=tuple(values["permissions"]),
        created_at=values["created_at"],
        expires_at=values["expires_at"],
        last_used_at=values["last_used_at"],
    )


async def create_api_key(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    permissions: list[Permission],
    name: str | None = None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    issued, _ = await ApiKeys(engine, tenant_id).issue(permissions, name, expires_at)
    return issued


async def revoke_api_key(engine: AsyncEngine, key_id: uuid.UUID) -> uuid.UUID | None:
    """Revoke a live key of any tenant (the operator's CLI); its tenant, or None when there is no live key."""
    statement = (
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utc_now())
        .returning(api_keys.c.tenant_id)
    )
    async with driver.core(engine, begin=True) as conn:
        row = (await conn.execute(statement)).first()
    return None if row is None else row[0]


async def authenticate(engine: AsyncEngine, secret: str) -> Principal | None:
    """The unrevoked key behind `secret` (expired ones too: the caller says why it refuses), or None.

    Records the use when the stored `last_used_at` is older than TOUCH_EVERY; the condition is in the
    statement too, so replicas racing on one key still write at most once a minute.
    """
    key_id = key_id_of(secret)
    if key_id is None:
        return None
    query = select(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    async with driver.core(engine) as conn:
        row = (await conn.execute(query)).mappings().first()
        if row is None or not matches(secret, row["key_hash"]):
            return None
        now = utc_now()
        if row["last_used_at"] is None or row["last_used_at"] < now - TOUCH_EVERY:
            await conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.id == key_id,
                    or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < now - TOUCH_EVERY),
                )
                .values(last_used_at=now)
            )
            await conn.commit()
    return Principal(
        key_id=row["id"],
        tenant_id=row["tenant_id"],
        permissions=frozenset(row["permissions"]),
        expires_at=row["expires_at"],
    )
