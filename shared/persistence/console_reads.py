"""The console's read side: one tenant's lists, totals and what needs attention (no writes here)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, cast, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import Date

from shared.clock import utc_now
from shared.domain.transaction import rfc3339
from shared.persistence import mapping
from shared.persistence.tables import (
    gateway_accounts,
    reconciliation_differences,
    reconciliations,
    refunds,
    transactions,
)

EXPORT_BATCH = 1000
COUNT_CAP = 10_000
"""A list counts its matches up to this many: past it the page says "more than", and no count scans a tenant."""


@dataclass(frozen=True, slots=True)
class TransactionFilters:
    """What the console's transaction list narrows by; every value a bound parameter."""

    status: str | None = None
    gateway: str | None = None
    account_id: uuid.UUID | None = None
    currency: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    q: str | None = None


class ConsoleReads:
    """Reads for one tenant; `references` are the details fields a `q` search looks in (the registry's)."""

    def __init__(self, engine: AsyncEngine, tenant_id: uuid.UUID, references: Iterable[str] = ()) -> None:
        self._engine = engine
        self._tenant_id = tenant_id
        self._references = tuple(sorted(set(references)))

    def _visible(self) -> ColumnElement[bool]:
        return and_(transactions.c.tenant_id == self._tenant_id, transactions.c.deleted_at.is_(None))

    def _search(self, q: str) -> ColumnElement[bool]:
        """Our id, or any gateway reference. Each branch of the union is one partial lookup index,
        (account_id, details->>key) WHERE details ? key, reached through the tenant's accounts; as a top-level
        `id IN (...)` PostgreSQL runs the union first and fetches the few rows it names (never a scan)."""
        accounts = select(gateway_accounts.c.id).where(gateway_accounts.c.tenant_id == self._tenant_id)
        branches: list[Select[Any]] = [
            select(transactions.c.id).where(
                transactions.c.account_id.in_(accounts),
                transactions.c.details.has_key(key),
                transactions.c.details[key].astext == q,
            )
            for key in self._references
        ]
        with contextlib.suppress(ValueError):
            branches.append(select(transactions.c.id).where(transactions.c.id == uuid.UUID(q)))
        if not branches:
            return transactions.c.id.is_(None)
        return transactions.c.id.in_(union_all(*branches))

    def _filtered(self, query: Select[Any], filters: TransactionFilters) -> Select[Any]:
        query = query.select_from(transactions).where(self._visible())
        if filters.status:
            query = query.where(transactions.c.status == filters.status)
        if filters.gateway:
            query = query.where(transactions.c.gateway == filters.gateway)
        if filters.account_id:
            query = query.where(transactions.c.account_id == filters.account_id)
        if filters.currency:
            query = query.where(transactions.c.currency == filters.currency)
        if filters.created_from:
            query = query.where(transactions.c.created_at >= filters.created_from)
        if filters.created_to:
            query = query.where(transactions.c.created_at < filters.created_to)
        if filters.amount_min is not None:
            query = query.where(transactions.c.amount >= filters.amount_min)
        if filters.amount_max is not None:
            query = query.where(transactions.c.amount <= filters.amount_max)
        if filters.q:
            query = query.where(self._search(filters.q))
        return query

    async def transactions_page(
        self, filters: TransactionFilters, page: int, page_size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A page, newest first, and the number of matches up to COUNT_CAP + 1 (more means "more than")."""
        query = self._filtered(select(transactions), filters)
        query = query.order_by(transactions.c.created_at.desc(), transactions.c.id.desc())
        query = query.limit(page_size).offset((page - 1) * page_size)
        capped = self._filtered(select(transactions.c.id), filters).limit(COUNT_CAP + 1).subquery()
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            total = (await conn.execute(select(func.count()).select_from(capped))).scalar_one()
        return [mapping.transaction_from_row(row).view() for row in rows], int(total)

    async def transactions_export(self, filters: TransactionFilters) -> AsyncIterator[dict[str, Any]]:
        """Every matching transaction, newest first, read in batches by keyset so memory stays flat."""
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            query = self._filtered(select(transactions), filters)
            if after is not None:
                query = query.where(
                    or_(
                        transactions.c.created_at < after[0],
                        and_(transactions.c.created_at == after[0], transactions.c.id < after[1]),
                    )
                )
            query = query.order_by(transactions.c.created_at.desc(), transactions.c.id.desc()).limit(EXPORT_BATCH)
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
            for row in rows:
                yield mapping.transaction_from_row(row).view()
            if len(rows) < EXPORT_BATCH:
                return
            after = (rows[-1]["created_at"], rows[-1]["id"])

    async def per_day(self, since: datetime, zone: str) -> list[dict[str, Any]]:
        """Count and amount per day (in the operator's time zone), gateway, currency and status: one scan that
        the overview sums into its totals and its chart."""
        day = cast(func.timezone(zone, transactions.c.created_at), Date).label("day")
        columns = (transactions.c.gateway, transactions.c.currency, transactions.c.status)
        query = (
            select(day, *columns, func.count().label("count"), func.sum(transactions.c.amount).label("amount"))
            .where(self._visible(), transactions.c.created_at >= since)
            .group_by(day, *columns)
        )
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def attention(self) -> dict[str, int]:
        """What a person should look at: pending past expiry, failed refunds, reconciliation differences."""
        now = utc_now()
        recent = now - timedelta(days=30)
        overdue = select(func.count()).where(
            self._visible(),
            transactions.c.status == "pending",
            transactions.c.expires_at.is_not(None),
            transactions.c.expires_at < now,
        )
        failed_refunds = select(func.count()).where(
            refunds.c.tenant_id == self._tenant_id, refunds.c.status == "failed", refunds.c.updated_at >= recent
        )
        differences = (
            select(func.count())
            .select_from(reconciliation_differences.join(reconciliations))
            .where(reconciliations.c.tenant_id == self._tenant_id, reconciliations.c.created_at >= recent)
        )
        async with self._engine.connect() as conn:
            return {
                "overdue_pending": int((await conn.execute(overdue)).scalar_one()),
                "failed_refunds": int((await conn.execute(failed_refunds)).scalar_one()),
                "differences": int((await conn.execute(differences)).scalar_one()),
            }

    async def refunds_page(self, status: str | None, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        where = [refunds.c.tenant_id == self._tenant_id]
        if status:
            where.append(refunds.c.status == status)
        query = (
            select(refunds, transactions.c.currency, transactions.c.gateway)
            .select_from(refunds.join(transactions, transactions.c.id == refunds.c.transaction_id))
            .where(*where)
            .order_by(refunds.c.created_at.desc(), refunds.c.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            total = (await conn.execute(select(func.count()).select_from(refunds).where(*where))).scalar_one()
        return [
            {**mapping.refund_from_row(row).view(), "currency": row["currency"], "gateway": row["gateway"]}
            for row in rows
        ], int(total)

    async def reconciliation_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        differences = (
            select(func.count())
            .where(reconciliation_differences.c.run_id == reconciliations.c.id)
            .scalar_subquery()
            .label("differences")
        )
        query = (
            select(
                reconciliations.c.id,
                reconciliations.c.account_id,
                reconciliations.c.gateway,
                reconciliations.c.source,
                reconciliations.c.file_name,
                reconciliations.c.period_from,
                reconciliations.c.period_to,
                reconciliations.c.status,
                reconciliations.c.counts,
                reconciliations.c.created_at,
                differences,
            )
            .where(reconciliations.c.tenant_id == self._tenant_id)
            .order_by(reconciliations.c.created_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def account_ids(self) -> list[dict[str, Any]]:
        query = (
            select(gateway_accounts.c.id, gateway_accounts.c.gateway)
            .where(gateway_accounts.c.tenant_id == self._tenant_id, gateway_accounts.c.deleted_at.is_(None))
            .order_by(gateway_accounts.c.gateway, gateway_accounts.c.created_at)
        )
        async with self._engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]


def csv_row(view: dict[str, Any]) -> list[str]:
    return [
        view["id"],
        view["created_at"],
        view["gateway"],
        view["account_id"],
        view["status"],
        str(view["amount"]),
        str(view["refunded_amount"]),
        view["currency"],
    ]


CSV_HEADER = ["id", "created_at", "gateway", "account_id", "status", "amount", "refunded_amount", "currency"]
__all__ = ["CSV_HEADER", "ConsoleReads", "TransactionFilters", "csv_row", "rfc3339"]
