"""A keyset page costs the same however many rows the tenant has: PostgreSQL answers it with an index range scan
that reads the page and one row more, with no sort and no count (the plan, as EXPLAIN ANALYZE reports it)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence import driver
from shared.persistence.keyset import Position
from shared.persistence.queries import ListFilters, TenantReads
from tests.support.world import TenantWorld

ROWS = 20_000
PAGE = 50
KEYSET_INDEXES = {"ix_transactions_tenant_created", "ix_transactions_tenant_status"}


async def load(engine: AsyncEngine, world: TenantWorld) -> None:
    statement = text(
        "INSERT INTO transactions (id, tenant_id, account_id, gateway, status, amount, currency, created_at) "
        "SELECT gen_random_uuid(), :tenant, :account, 'cash', (ARRAY['completed','pending','failed'])[1 + n % 3], "
        "1000, 'UZS', timestamptz '2026-01-01' + n * interval '1 second' FROM generate_series(1, :rows) AS n"
    )
    async with engine.begin() as conn:
        await conn.execute(statement, {"tenant": world.tenant_id, "account": world.accounts["cash"], "rows": ROWS})
        await conn.execute(text("ANALYZE transactions"))


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in nodes(child))]


async def explain(engine: AsyncEngine, reads: TenantReads, filters: ListFilters, after: Position | None) -> list[Any]:
    compiled = reads.newest_after_statement(filters, after, PAGE).compile(dialect=engine.dialect)
    params = [compiled.params[name] for name in compiled.positiontup or []]
    async with driver.connection(engine) as db:
        document = await db.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", *params)
    parsed = json.loads(document) if isinstance(document, str) else document  # the pool may decode json itself
    return nodes(parsed[0]["Plan"])


@pytest.mark.parametrize(
    ("filters", "after"),
    [
        (ListFilters(), None),
        (ListFilters(), Position(datetime(2026, 1, 1, 3, tzinfo=UTC), uuid.UUID(int=0))),
        (ListFilters(status="failed"), None),
        (
            ListFilters(status="pending", currency="UZS"),
            Position(datetime(2026, 1, 1, 2, tzinfo=UTC), uuid.UUID(int=2**128 - 1)),
        ),
    ],
    ids=["first page", "next page", "first page by status", "next page by status and currency"],
)
async def test_a_page_reads_its_rows_from_the_index_and_nothing_more(
    engine: AsyncEngine, tenant: TenantWorld, filters: ListFilters, after: Position | None
) -> None:
    await load(engine, tenant)
    plan = await explain(engine, TenantReads(engine, tenant.tenant_id), filters, after)
    kinds = [node["Node Type"] for node in plan]
    assert "Sort" not in kinds and "Aggregate" not in kinds, kinds
    (scan,) = [node for node in plan if node.get("Index Name") in KEYSET_INDEXES]
    assert scan["Node Type"] == "Index Scan", scan["Node Type"]
    assert scan["Actual Rows"] == PAGE + 1, "the page and one more row, never the tenant's other rows"
    assert scan.get("Rows Removed by Filter", 0) <= PAGE, "the filters are index conditions, not a scan and discard"
