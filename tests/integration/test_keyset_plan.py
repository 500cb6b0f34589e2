"""A keyset page costs the same however many rows the tenant has: PostgreSQL answers it with an index range scan
that reads the page and one row more, with no sort and no count (the plan, as EXPLAIN ANALYZE reports it), for the
API's cursor pages and for the console's lists in both directions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence import driver
from shared.persistence.console_reads import ConsoleReads, TransactionFilters
from shared.persistence.keyset import Position, Window
from shared.persistence.queries import ListFilters, TenantReads
from tests.support.world import TenantWorld

ROWS = 20_000
PAGE = 50
KEYSET_INDEXES = {"ix_transactions_tenant_created", "ix_transactions_tenant_status"}
REFUND_INDEXES = {"ix_refunds_tenant_created", "ix_refunds_tenant_status"}


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


async def explain(engine: AsyncEngine, statement: Select[Any]) -> list[Any]:
    compiled = statement.compile(dialect=engine.dialect)
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
    statement = TenantReads(engine, tenant.tenant_id).newest_after_statement(filters, after, PAGE)
    assert_reads_only_the_page(await explain(engine, statement), KEYSET_INDEXES)


def assert_reads_only_the_page(plan: list[Any], indexes: set[str]) -> None:
    kinds = [node["Node Type"] for node in plan]
    assert "Sort" not in kinds and "Aggregate" not in kinds, kinds
    (scan,) = [node for node in plan if node.get("Index Name") in indexes]
    assert scan["Node Type"] == "Index Scan", scan["Node Type"]
    assert scan["Actual Rows"] == PAGE + 1, "the page and one more row, never the tenant's other rows"
    assert scan.get("Rows Removed by Filter", 0) <= PAGE, "the filters are index conditions, not a scan and discard"


MIDDLE = Position(datetime(2026, 1, 1, 3, tzinfo=UTC), uuid.UUID(int=0))
CONSOLE_WINDOWS = [Window(), Window(after=MIDDLE), Window(before=MIDDLE)]
WINDOW_NAMES = ["newest page", "older page", "newer page"]


@pytest.mark.parametrize("window", CONSOLE_WINDOWS, ids=WINDOW_NAMES)
@pytest.mark.parametrize("status", [None, "failed"], ids=["any status", "by status"])
async def test_a_console_page_of_transactions_reads_its_rows_from_the_index_either_way(
    engine: AsyncEngine, tenant: TenantWorld, window: Window, status: str | None
) -> None:
    await load(engine, tenant)
    reads = ConsoleReads(engine, tenant.tenant_id)
    statement = reads.transactions_statement(TransactionFilters(status=status), window, PAGE)
    assert_reads_only_the_page(await explain(engine, statement), KEYSET_INDEXES)


async def load_refunds(engine: AsyncEngine, world: TenantWorld) -> None:
    statement = text(
        "INSERT INTO refunds (id, tenant_id, transaction_id, amount, status, created_at) "
        "SELECT gen_random_uuid(), tenant_id, id, 100, (ARRAY['succeeded','requested','failed'])[1 + n % 3], "
        "created_at FROM (SELECT *, row_number() OVER () AS n FROM transactions WHERE tenant_id = :tenant) AS t"
    )
    async with engine.begin() as conn:
        await conn.execute(statement, {"tenant": world.tenant_id})
        await conn.execute(text("ANALYZE refunds"))


@pytest.mark.parametrize("window", CONSOLE_WINDOWS, ids=WINDOW_NAMES)
@pytest.mark.parametrize("status", [None, "failed"], ids=["any status", "by status"])
async def test_a_console_page_of_refunds_reads_its_rows_from_the_index_either_way(
    engine: AsyncEngine, tenant: TenantWorld, window: Window, status: str | None
) -> None:
    await load(engine, tenant)
    await load_refunds(engine, tenant)
    statement = ConsoleReads(engine, tenant.tenant_id).refunds_statement(status, window, PAGE)
    assert_reads_only_the_page(await explain(engine, statement), REFUND_INDEXES)
