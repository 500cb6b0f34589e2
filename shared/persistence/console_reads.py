"""The console's read side: one tenant's lists, totals and what needs attention (no writes here)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, and_, cast, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import Date

from shared.clock import utc_now
from shared.domain.transaction import rfc3339
from shared.persistence import keyset, mapping
from shared.persistence.keyset import Page, Window
from shared.persistence.tables import (
    gateway_accounts,
    reconciliation_differences,
    reconciliations,
    refunds,
    transactions,
)

EXPORT_BATCH = 1000


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

    def transactions_statement(self, filters: TransactionFilters, window: Window, page_size: int) -> Select[Any]:
        return keyset.window_statement(self._filtered(select(transactions), filters), transactions, window, page_size)

    async def transactions_page(self, filters: TransactionFilters, window: Window, page_size: int) -> Page:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(self.transactions_statement(filters, window, page_size))).mappings().all()
        return keyset.page_of(rows, window, page_size, mapping.transaction_view)

    async def transactions_export(self, filters: TransactionFilters) -> AsyncIterator[dict[str, Any]]:
        """Every matching transaction, newest first, read a page at a time so memory stays flat."""
        window = Window()
        while True:
            page = await self.transactions_page(filters, window, EXPORT_BATCH)
            for view in page.items:
                yield view
            if page.older is None:
                return
            window = Window(after=page.older)

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

    def refunds_statement(self, status: str | None, window: Window, page_size: int) -> Select[Any]:
        query = (
            select(refunds, transactions.c.currency, transactions.c.gateway)
            .select_from(refunds.join(transactions, transactions.c.id == refunds.c.transaction_id))
            .where(refunds.c.tenant_id == self._tenant_id)
        )
        if status:
            query = query.where(refunds.c.status == status)
        return keyset.window_statement(query, refunds, window, page_size)

    async def refunds_page(self, status: str | None, window: Window, page_size: int) -> Page:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(self.refunds_statement(status, window, page_size))).mappings().all()
        return keyset.page_of(rows, window, page_size, _refund_view)

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


def _refund_view(row: RowMapping) -> dict[str, Any]:
    return {**mapping.refund_from_row(row).view(), "currency": row["currency"], "gateway": row["gateway"]}


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
