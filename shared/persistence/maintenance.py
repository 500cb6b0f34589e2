"""System-wide sweeps for the scheduler; they return ids only, and each change goes through a scoped repository."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence import driver
from shared.persistence.tables import gateway_accounts, inbox, outbox, refunds, transactions, webhook_log


async def overdue_pending(engine: AsyncEngine, now: datetime, limit: int = 200) -> list[tuple[uuid.UUID, uuid.UUID]]:
    query = (
        select(transactions.c.tenant_id, transactions.c.id)
        .where(transactions.c.status == "pending", transactions.c.expires_at <= now)
        .order_by(transactions.c.expires_at)
        .limit(limit)
    )
    async with driver.core(engine) as conn:
        return [(row.tenant_id, row.id) for row in await conn.execute(query)]


async def stale_pending(
    engine: AsyncEngine, gateways: list[str], before: datetime, limit: int = 200
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Pending payments of provider gateways untouched since `before`: the janitor asks the provider about them."""
    if not gateways:
        return []
    query = (
        select(transactions.c.tenant_id, transactions.c.id)
        .where(
            transactions.c.status == "pending",
            transactions.c.gateway.in_(gateways),
            transactions.c.updated_at < before,
            transactions.c.deleted_at.is_(None),
        )
        .order_by(transactions.c.updated_at)
        .limit(limit)
    )
    async with driver.core(engine) as conn:
        return [(row.tenant_id, row.id) for row in await conn.execute(query)]


async def owed_fiscal_receipts(
    engine: AsyncEngine, gateway: str, before: datetime, limit: int = 100
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Paid payments with a receipt whose submission is pending, or was never recorded, since before `before`."""
    fiscal_status = transactions.c.details["fiscal"]["status"].astext
    query = (
        select(transactions.c.tenant_id, transactions.c.id)
        .where(
            transactions.c.gateway == gateway,
            transactions.c.status == "completed",
            transactions.c.details.has_key("receipt"),
            or_(fiscal_status == "pending", not_(transactions.c.details.has_key("fiscal"))),
            transactions.c.updated_at < before,
        )
        .order_by(transactions.c.updated_at)
        .limit(limit)
    )
    async with driver.core(engine) as conn:
        return [(row.tenant_id, row.id) for row in await conn.execute(query)]


async def purge_processed(engine: AsyncEngine, now: datetime, keep: timedelta = timedelta(days=7)) -> None:
    """Sent outbox rows and old inbox entries are only needed for a while (duplicates arrive within minutes)."""
    async with driver.core(engine, begin=True) as conn:
        await conn.execute(delete(outbox).where(outbox.c.sent_at < now - keep))
        await conn.execute(delete(inbox).where(inbox.c.processed_at < now - keep))


async def purge_webhook_log(engine: AsyncEngine, before: datetime, batch: int = 10_000) -> int:
    """Delete up to `batch` gateway calls received before `before` (personal data is kept no longer than needed)."""
    oldest = select(webhook_log.c.id).where(webhook_log.c.received_at < before).limit(batch)
    async with driver.core(engine, begin=True) as conn:
        deleted = await conn.execute(delete(webhook_log).where(webhook_log.c.id.in_(oldest.scalar_subquery())))
    return int(deleted.rowcount or 0)


async def stuck_refunds(
    engine: AsyncEngine, now: datetime, older_than: timedelta = timedelta(minutes=2), limit: int = 100
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
    """Refunds still `requested` long after they were opened: a worker died between provider call and record."""
    query = (
        select(refunds.c.tenant_id, refunds.c.transaction_id, refunds.c.id)
        .where(refunds.c.status == "requested", refunds.c.updated_at < now - older_than)
        .order_by(refunds.c.updated_at)
        .limit(limit)
    )
    async with driver.core(engine) as conn:
        return [(row.tenant_id, row.transaction_id, row.id) for row in await conn.execute(query)]


async def accounts_of(engine: AsyncEngine, gateways: list[str]) -> list[Any]:
    """Every live account of these gateways, all tenants (the nightly reconciliation's list)."""
    if not gateways:
        return []
    query = select(gateway_accounts).where(
        gateway_accounts.c.gateway.in_(gateways), gateway_accounts.c.deleted_at.is_(None)
    )
    async with driver.core(engine) as conn:
        return list((await conn.execute(query)).mappings().all())
