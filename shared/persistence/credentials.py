"""Sealed credentials as a whole: re-sealing them under the first key of BILLING_SECRET_KEY."""

from __future__ import annotations

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence import driver
from shared.persistence.tables import gateway_accounts, webhook_endpoints
from shared.security.cipher import Cipher, CredentialsUnreadable

SEALED: tuple[tuple[Table, Column[bytes]], ...] = (
    (gateway_accounts, gateway_accounts.c.secret_config),
    (webhook_endpoints, webhook_endpoints.c.secrets),
)
"""Every sealed column: gateway credentials and merchant webhook signing secrets."""


async def reseal_all(engine: AsyncEngine, cipher: Cipher) -> tuple[int, int]:
    """Re-seal every stored credential (removed accounts' too) under the first key, in one transaction.

    Returns (re-sealed, unreadable); unreadable rows, which no key opens, are left as they are.
    """
    resealed = unreadable = 0
    async with driver.core(engine, begin=True) as conn:
        for table, column in SEALED:
            query = select(table.c.id, column).order_by(table.c.id).with_for_update()
            for row_id, token in (await conn.execute(query)).all():
                try:
                    fresh = cipher.reseal(token)
                except CredentialsUnreadable:
                    unreadable += 1
                    continue
                await conn.execute(update(table).where(table.c.id == row_id).values({column.name: fresh}))
                resealed += 1
    return resealed, unreadable
