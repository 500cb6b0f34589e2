"""Console operators: accounts, server-side sessions with idle expiry, and the lock after failed sign-ins."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.domain.transaction import rfc3339
from shared.persistence.tables import operator_sessions, operator_sign_in_failures, operators
from shared.security.passwords import verify_password

IDLE_EXPIRY = timedelta(minutes=30)
LOCK_AFTER_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
TOUCH_EVERY = timedelta(seconds=30)
"""A session's last_seen_at is written at most this often: every page must not write."""


class EmailTaken(ValueError):
    """Another operator (of any tenant) already has this email."""


@dataclass(frozen=True, slots=True)
class Operator:
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    permissions: frozenset[str]
    timezone: str
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def actor(self) -> str:
        """Who the audit trail names for what this operator does."""
        return f"operator:{self.id}"

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "tenant_id": str(self.tenant_id),
            "permissions": sorted(self.permissions),
            "created_at": rfc3339(self.created_at),
            "disabled": self.disabled_at is not None,
        }


@dataclass(frozen=True, slots=True)
class Session:
    operator: Operator
    csrf_token: str


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a sign-in: a session token for the cookie, or why not."""

    token: str | None = None
    locked: bool = False


def _operator(row: Any) -> Operator:
    return Operator(
        id=row["id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        permissions=frozenset(row["permissions"]),
        timezone=row["timezone"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def _digest(token: str) -> bytes:
    # The token carries 256 random bits: a fast hash is enough, and a stolen table holds no usable cookie.
    return hashlib.sha256(token.encode()).digest()


class Operators:
    """Operators across tenants (the CLI's and the sign-in's view); pages only ever see their own tenant's."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, tenant_id: uuid.UUID, email: str, password_hash: str, permissions: list[str], timezone: str = "UTC"
    ) -> Operator:
        try:
            async with self._engine.begin() as conn:
                row = (
                    (
                        await conn.execute(
                            insert(operators)
                            .values(
                                id=uuid.uuid4(),
                                tenant_id=tenant_id,
                                email=email.strip(),
                                password_hash=password_hash,
                                permissions=sorted(set(permissions)),
                                timezone=timezone,
                            )
                            .returning(operators)
                        )
                    )
                    .mappings()
                    .one()
                )
        except IntegrityError as exc:
            raise EmailTaken(f"an operator with the email {email} exists already") from exc
        return _operator(row)

    async def of_tenant(self, tenant_id: uuid.UUID) -> list[Operator]:
        query = select(operators).where(operators.c.tenant_id == tenant_id).order_by(operators.c.created_at)
        async with self._engine.connect() as conn:
            return [_operator(row) for row in (await conn.execute(query)).mappings()]

    async def disable(self, operator_id: uuid.UUID) -> Operator | None:
        """Disable an operator and end every session of theirs in the same transaction."""
        async with self._engine.begin() as conn:
            row = (
                (
                    await conn.execute(
                        update(operators)
                        .where(operators.c.id == operator_id)
                        .values(disabled_at=func.coalesce(operators.c.disabled_at, func.now()))
                        .returning(operators)
                    )
                )
                .mappings()
                .one_or_none()
            )
            await conn.execute(delete(operator_sessions).where(operator_sessions.c.operator_id == operator_id))
        return None if row is None else _operator(row)

    async def sign_in(self, email: str, password: str) -> SignIn:
        """Check a password; five failures within LOCK_WINDOW lock the email, whatever the password."""
        key = email.strip().lower()
        now = utc_now()
        async with self._engine.connect() as conn:
            failures = (
                await conn.execute(
                    select(func.count()).where(
                        operator_sign_in_failures.c.email == key, operator_sign_in_failures.c.at > now - LOCK_WINDOW
                    )
                )
            ).scalar_one()
            row = (
                (await conn.execute(select(operators).where(func.lower(operators.c.email) == key)))
                .mappings()
                .one_or_none()
            )
        if failures >= LOCK_AFTER_FAILURES:
            return SignIn(locked=True)
        good = verify_password(None if row is None else row["password_hash"], password)
        if not good or row is None or row["disabled_at"] is not None:
            async with self._engine.begin() as conn:
                await conn.execute(insert(operator_sign_in_failures).values(email=key, at=now))
            return SignIn(locked=failures + 1 >= LOCK_AFTER_FAILURES)
        token = secrets.token_urlsafe(32)
        async with self._engine.begin() as conn:
            await conn.execute(delete(operator_sign_in_failures).where(operator_sign_in_failures.c.email == key))
            await conn.execute(
                delete(operator_sessions).where(operator_sessions.c.last_seen_at < now - IDLE_EXPIRY)
            )  # the expired sessions of everybody: cheap, indexed by nothing but rare
            await conn.execute(
                insert(operator_sessions).values(
                    token_hash=_digest(token),
                    operator_id=row["id"],
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return SignIn(token=token)

    async def session(self, token: str) -> Session | None:
        """The live session of a cookie's token (idle for less than IDLE_EXPIRY, operator enabled), touched."""
        now = utc_now()
        query = (
            select(operators, operator_sessions.c.csrf_token, operator_sessions.c.last_seen_at.label("seen"))
            .select_from(operator_sessions.join(operators, operators.c.id == operator_sessions.c.operator_id))
            .where(
                operator_sessions.c.token_hash == _digest(token),
                operator_sessions.c.last_seen_at > now - IDLE_EXPIRY,
                operators.c.disabled_at.is_(None),
            )
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        if row is None:
            return None
        if row["seen"] < now - TOUCH_EVERY:
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(operator_sessions)
                    .where(operator_sessions.c.token_hash == _digest(token))
                    .values(last_seen_at=now)
                )
        return Session(_operator(row), row["csrf_token"])

    async def sign_out(self, token: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(operator_sessions).where(operator_sessions.c.token_hash == _digest(token)))
