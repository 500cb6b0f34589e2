"""Sealed gateway credentials as a whole: re-sealing them under the first key of BILLING_SECRET_KEY."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence import driver
from shared.persistence.tables import gateway_accounts
from shared.security.cipher import Cipher, CredentialsUnreadable


async def reseal_all(engine: AsyncEngine, cipher: Cipher) -> tuple[int, int]:
    """Re-seal every stored credential (removed accounts' too) under the first key, in one transaction.

    Returns (re-sealed, unreadable); unreadable rows, which no key opens, are left as they are.
    """
    resealed = unreadable = 0
    query = select(gateway_accounts.c.id, gateway_accounts.c.secret_config).order_by(gateway_accounts.c.id)
    async with driver.core(engine, begin=True) as conn:
        rows = (await conn.execute(query.with_for_update())).all()
        for account_id, token in rows:
            try:
                fresh = cipher.reseal(token)
            except CredentialsUnreadable:
                unreadable += 1
                continue
            await conn.execute(
                update(gateway_accounts).where(gateway_accounts.c.id == account_id).values(secret_config=fresh)
            )
            resealed += 1
    return resealed, unreadable
