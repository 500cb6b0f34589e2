"""The read side: tenant-scoped queries that the ingress answers GETs with (no writes here)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import Text

from shared.domain.transaction import Transaction
from shared.persistence import driver, keyset, mapping
from shared.persistence.keyset import Position
from shared.persistence.tables import audit_log, refunds, transactions

SORTS = {
    "created_at": (transactions.c.created_at.asc(), transactions.c.id.asc()),
    "-created_at": keyset.newest_first(transactions),
    "amount": (transactions.c.amount.asc(), transactions.c.id.asc()),
    "-amount": (transactions.c.amount.desc(), transactions.c.id.desc()),
}
OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "between", "exists")


class InvalidQuery(ValueError):
    """A filter that cannot be run: named field and reason."""


@dataclass(frozen=True, slots=True)
class ListFilters:
    status: str | None = None
    gateway: str | None = None
    currency: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class DetailCondition:
    path: tuple[str, ...]
    op: str
    value: Any


class TenantReads:
    def __init__(self, engine: AsyncEngine, tenant_id: uuid.UUID) -> None:
        self._engine = engine
        self._tenant_id = tenant_id

    def _visible(self) -> ColumnElement[bool]:
        return and_(transactions.c.tenant_id == self._tenant_id, transactions.c.deleted_at.is_(None))

    async def transaction(self, transaction_id: uuid.UUID) -> Transaction | None:
        """The aggregate, unless deleted: the ingress asks it what may happen, and never writes it."""
        async with driver.connection(self._engine) as db:
            row = await db.fetchrow(driver.SELECT_VISIBLE_TRANSACTION, self._tenant_id, transaction_id)
        return None if row is None else mapping.transaction_from_row(row)

    async def get(self, transaction_id: uuid.UUID) -> dict[str, Any] | None:
        tx = await self.transaction(transaction_id)
        return None if tx is None else tx.view()

    async def page(
        self, filters: ListFilters, sort: str, page: int, page_size: int
    ) -> tuple[list[dict[str, Any]], int]:
        query = self._filtered(select(transactions), filters).order_by(*SORTS[sort])
        query = query.limit(page_size).offset((page - 1) * page_size)
        async with driver.core(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
            total = (await conn.execute(self._filtered(select(func.count()), filters))).scalar_one()
        return [mapping.transaction_view(row) for row in rows], int(total)

    async def newest_after(
        self, filters: ListFilters, after: Position | None, limit: int
    ) -> tuple[list[dict[str, Any]], Position | None]:
        """Keyset page, newest first: the rows past `after` (from the newest when None) and where the next page
        starts (None on the last page). No count and no OFFSET, so its cost does not grow with the tenant's rows."""
        window = keyset.Window(after=after)
        async with driver.core(self._engine) as conn:
            rows = (await conn.execute(self.newest_after_statement(filters, after, limit))).mappings().all()
        page = keyset.page_of(rows, window, limit, mapping.transaction_view)
        return page.items, page.older

    def newest_after_statement(self, filters: ListFilters, after: Position | None, limit: int) -> Select[Any]:
        """The keyset statement: an index range scan of (tenant_id[, status], created_at DESC, id DESC)."""
        query = self._filtered(select(transactions), filters)
        return keyset.window_statement(query, transactions, keyset.Window(after=after), limit)

    async def count(self, filters: ListFilters) -> int:
        async with driver.core(self._engine) as conn:
            return int((await conn.execute(self._filtered(select(func.count()), filters))).scalar_one())

    def _filtered(self, query: Select[Any], filters: ListFilters) -> Select[Any]:
        query = query.select_from(transactions).where(self._visible())
        if filters.status:
            query = query.where(transactions.c.status == filters.status)
        if filters.gateway:
            query = query.where(transactions.c.gateway == filters.gateway)
        if filters.currency:
            query = query.where(transactions.c.currency == filters.currency)
        if filters.created_from:
            query = query.where(transactions.c.created_at >= filters.created_from)
        if filters.created_to:
            query = query.where(transactions.c.created_at <= filters.created_to)
        return query

    async def search(self, gateway: str, conditions: list[DetailCondition], limit: int) -> list[dict[str, Any]]:
        """GetByDetailsFields: typed comparisons on details paths, every value a bound parameter."""
        query = select(transactions).where(self._visible(), transactions.c.gateway == gateway)
        for condition in conditions:
            query = query.where(detail_clause(condition))
        query = query.order_by(*keyset.newest_first(transactions)).limit(limit)
        async with driver.core(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [mapping.transaction_view(row) for row in rows]

    async def refunds_of(self, transaction_id: uuid.UUID) -> list[dict[str, Any]]:
        query = (
            select(refunds)
            .where(refunds.c.tenant_id == self._tenant_id, refunds.c.transaction_id == transaction_id)
            .order_by(refunds.c.created_at, refunds.c.id)
        )
        async with driver.core(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [mapping.refund_from_row(row).view() for row in rows]

    async def in_flight_refunds(self, transaction_id: uuid.UUID) -> int:
        query = select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
            refunds.c.tenant_id == self._tenant_id,
            refunds.c.transaction_id == transaction_id,
            refunds.c.status == "requested",
        )
        async with driver.core(self._engine) as conn:
            return int((await conn.execute(query)).scalar_one())

    async def audit_of(self, transaction_id: uuid.UUID) -> list[dict[str, Any]]:
        query = (
            select(audit_log)
            .where(audit_log.c.tenant_id == self._tenant_id, audit_log.c.transaction_id == transaction_id)
            .order_by(audit_log.c.id)
        )
        async with driver.core(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            {
                "id": row["id"],
                "actor": row["actor"],
                "action": row["action"],
                "before": row["before"],
                "after": row["after"],
                "request_id": row["request_id"],
                "at": row["at"].isoformat().replace("+00:00", "Z"),
            }
            for row in rows
        ]


def _jsonb(value: Any) -> ColumnElement[Any]:
    return cast(literal(json.dumps(value), Text), JSONB)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise InvalidQuery("ordered comparisons take a number or a string")


def _nest(path: tuple[str, ...], value: Any) -> Any:
    for part in reversed(path):
        value = {part: value}
    return value


def detail_clause(condition: DetailCondition) -> ColumnElement[bool]:
    path = cast(literal(list(condition.path), ARRAY(Text)), ARRAY(Text))
    node = transactions.c.details.op("#>")(path)
    value = condition.value
    match condition.op:
        case "exists":
            if not isinstance(value, bool):
                raise InvalidQuery("exists takes true or false")
            return node.is_not(None) if value else node.is_(None)
        case "eq":
            exact = and_(node.is_not(None), node == _jsonb(value))
            if any(part.isdigit() for part in condition.path):
                return exact
            # Containment lets PostgreSQL use the GIN index; the exact test keeps array members out.
            return and_(transactions.c.details.op("@>")(_jsonb(_nest(condition.path, value))), exact)
        case "ne":
            return and_(node.is_not(None), node != _jsonb(value))
        case "in":
            if not isinstance(value, list) or not 1 <= len(value) <= 100:
                raise InvalidQuery("in takes a list of 1 to 100 values")
            return or_(*(node == _jsonb(item) for item in value))
        case "between":
            if not isinstance(value, list) or len(value) != 2:
                raise InvalidQuery("between takes [low, high]")
            kind = _json_type(value[0])
            if _json_type(value[1]) != kind:
                raise InvalidQuery("between takes two values of the same type")
            typed = func.jsonb_typeof(node) == kind
            return and_(typed, node >= _jsonb(value[0]), node <= _jsonb(value[1]))
        case "gt" | "gte" | "lt" | "lte":
            typed = func.jsonb_typeof(node) == _json_type(value)
            compare = {
                "gt": node > _jsonb(value),
                "gte": node >= _jsonb(value),
                "lt": node < _jsonb(value),
                "lte": node <= _jsonb(value),
            }[condition.op]
            return and_(typed, compare)
        case _:
            raise InvalidQuery(f"unknown op {condition.op!r}; use one of {', '.join(OPS)}")
