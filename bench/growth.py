"""Costs that must not grow with the data: each read's and a payment's create latency as one tenant grows.

At each size (an empty database first, then 10k, 100k and 1M transactions in one tenant), the rows are
bulk-loaded straight into the sandbox database with generate_series (not through the API), vacuumed and
analysed; then one client, one request at a time, measures p50/p95 of: the newest 50 in the cursor form
(`?cursor=`) and in the page form (with its `total`), the 50 half-way down the rows in both forms (a cursor
against an OFFSET), GET one transaction, the count, and a cash payment's create (`POST
/v1/transactions?wait=true`). Prints a table per query and size.

    python bench/growth.py [--sizes 10000,100000,1000000] [--no-million] [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

import aiohttp
import asyncpg
from ceilings import percentile
from payments import Credentials, create, get, http_client, provision
from sandbox import Sandbox, Session, machine, run, utc_stamp, write_results
from window import StepFailed

from services.ingress import cursors
from shared.persistence.keyset import Position

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
LOAD_CHUNK = 100_000
NEWEST_TARGET_MS = 30.0
CREATE_SLACK = 1.25  # "as fast as on an empty database": a p50 within 25 % of the empty database's
# Spread over the past year, older than anything the benchmark creates through the API.
LOAD_ROWS = """
INSERT INTO transactions (id, tenant_id, account_id, gateway, status, amount, currency, created_at, updated_at)
SELECT gen_random_uuid(), $1, $2, 'cash',
       (ARRAY['completed','completed','completed','completed','completed','completed','pending','failed',
              'canceled','completed'])[1 + n % 10],
       1000 + n % 100000, 'UZS', moment, moment
FROM generate_series($3::bigint, $4::bigint) AS n,
     LATERAL (SELECT now() - interval '1 day' - (random() * interval '365 days') AS moment) AS t
"""


@dataclass(frozen=True)
class Query:
    """One measured request: a name and a coroutine making it once (raising StepFailed on a wrong answer)."""

    name: str
    once: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Latency:
    """One query's figures at one size."""

    query: str
    rows: int
    samples: int
    p50_ms: float
    p95_ms: float
    errors: int


@dataclass(frozen=True)
class Middle:
    """Half-way down the tenant's rows, newest first: as a page number and as the cursor of the same place."""

    page: int
    cursor: str


def queries(
    client: aiohttp.ClientSession, credentials: Credentials, ids: list[str], middle: Middle | None
) -> list[Query]:
    """The requests measured at every size."""

    async def newest_cursor() -> None:
        page = await get(client, "newest 50 (cursor)", "/v1/transactions", cursor="", page_size="50")
        if "total" in page or "next_cursor" not in page:
            raise StepFailed("newest 50 (cursor): not the cursor form")

    async def newest_page() -> None:
        await get(client, "newest 50 (page)", "/v1/transactions", page="1", page_size="50")

    async def get_one() -> None:
        await get(client, "get one", f"/v1/transactions/{random.choice(ids)}")

    async def count() -> None:
        await get(client, "count", "/v1/transactions/count")

    async def create_one() -> None:
        await create(client, credentials.account_id)

    async def middle_cursor() -> None:
        assert middle is not None
        await get(client, "middle 50 (cursor)", "/v1/transactions", cursor=middle.cursor, page_size="50")

    async def middle_page() -> None:
        assert middle is not None
        await get(client, "middle 50 (page)", "/v1/transactions", page=str(middle.page), page_size="50")

    measured = [Query("newest 50, cursor form", newest_cursor), Query("newest 50, page form (with total)", newest_page)]
    if middle is not None:
        measured += [
            Query("50 half-way down, cursor form", middle_cursor),
            Query("50 half-way down, page form", middle_page),
        ]
    if ids:
        measured.append(Query("get one", get_one))
    return [*measured, Query("count", count), Query("create a cash payment (wait=true)", create_one)]


async def measure(query: Query, rows: int, samples: int, warmup: int) -> Latency:
    """One request at a time: `warmup` uncounted, then `samples` timed."""
    latencies: list[float] = []
    errors = 0
    for index in range(warmup + samples):
        started = time.perf_counter()
        try:
            await query.once()
        except StepFailed as failure:
            errors += 1
            if errors == 1:
                print(f"  {query.name}: {failure.kind}", file=sys.stderr)
            continue
        if index >= warmup:
            latencies.append(time.perf_counter() - started)
    return Latency(
        query.name,
        rows,
        len(latencies),
        percentile(latencies, 0.50) * 1e3,
        percentile(latencies, 0.95) * 1e3,
        errors,
    )


async def grow(dsn: str, tenant_id: str, account_id: str, have: int, want: int) -> None:
    """Bulk-load rows `have + 1 .. want` of the tenant in chunks, then VACUUM ANALYZE as autovacuum would."""
    connection = await asyncpg.connect(dsn)
    try:
        for start in range(have + 1, want + 1, LOAD_CHUNK):
            end = min(want, start + LOAD_CHUNK - 1)
            began = time.perf_counter()
            await connection.execute(LOAD_ROWS, tenant_id, account_id, start, end)
            print(f"  loaded {end:,} rows ({time.perf_counter() - began:.1f} s for this chunk)", file=sys.stderr)
        await connection.execute("VACUUM (ANALYZE) transactions")
    finally:
        await connection.close()


async def sample_ids(dsn: str, tenant_id: str, count: int = 500) -> list[str]:
    """Random transaction ids of the tenant, for GET one."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id::text FROM transactions TABLESAMPLE SYSTEM (5) WHERE tenant_id = $1 LIMIT $2",
            tenant_id,
            count,
        )
        if not rows:
            rows = await connection.fetch(
                "SELECT id::text FROM transactions WHERE tenant_id = $1 LIMIT $2", tenant_id, count
            )
        return [str(row[0]) for row in rows]
    finally:
        await connection.close()


async def half_way(dsn: str, tenant_id: str, page_size: int = 50) -> Middle | None:
    """The page half-way down the tenant's rows, and the cursor that starts at the same row."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = int(await connection.fetchval("SELECT count(*) FROM transactions WHERE tenant_id = $1", tenant_id))
        page = rows // page_size // 2 + 1
        if page < 2:
            return None
        before = await connection.fetchrow(
            "SELECT created_at, id FROM transactions WHERE tenant_id = $1 AND deleted_at IS NULL "
            "ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            tenant_id,
            (page - 1) * page_size - 1,
        )
    finally:
        await connection.close()
    return None if before is None else Middle(page, cursors.encode(Position(before["created_at"], before["id"])))


async def tenant_of(dsn: str, account_id: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("SELECT tenant_id::text FROM gateway_accounts WHERE id = $1", account_id))
    finally:
        await connection.close()


async def run_sizes(sandbox: Sandbox, credentials: Credentials, args: argparse.Namespace) -> list[Latency]:
    """Grow the tenant size by size and measure every query at each."""
    tenant_id = await tenant_of(sandbox.dsn, credentials.account_id)
    results: list[Latency] = []
    have = 0
    async with http_client(sandbox, credentials, 4) as client:
        for size in (0, *args.sizes):
            if size > have:
                print(f"growing to {size:,} rows", file=sys.stderr)
                await grow(sandbox.dsn, tenant_id, credentials.account_id, have, size)
                have = size
            ids = await sample_ids(sandbox.dsn, tenant_id)
            middle = await half_way(sandbox.dsn, tenant_id)
            for query in queries(client, credentials, ids, middle):
                result = await measure(query, size, args.samples, args.warmup)
                print(f"  {size:>9,} rows  {query.name:36s} p50 {result.p50_ms:7.1f} ms  p95 {result.p95_ms:7.1f} ms")
                results.append(result)
            # The creates above added rows; the next size counts from what the table holds now.
            have = max(have, await count_rows(sandbox.dsn, tenant_id))
    return results


async def count_rows(dsn: str, tenant_id: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM transactions WHERE tenant_id = $1", tenant_id))
    finally:
        await connection.close()


# ---------------------------------------------------------------- report


def table(results: list[Latency]) -> list[str]:
    """One row per query, one column per size: `p50 / p95 ms`."""
    sizes = sorted({result.rows for result in results})
    names = list(dict.fromkeys(result.query for result in results if result.rows == sizes[-1]))
    cell = {(result.query, result.rows): result for result in results}
    header = "| query | " + " | ".join("empty" if size == 0 else f"{size:,} rows" for size in sizes) + " |"
    lines = [header, "|---|" + "---:|" * len(sizes)]
    for name in names:
        cells = []
        for size in sizes:
            found = cell.get((name, size))
            text = "" if found is None else f"{found.p50_ms:.1f} / {found.p95_ms:.1f}"
            cells.append(text + (f" ({found.errors} errors)" if found and found.errors else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def verdicts(results: list[Latency]) -> list[tuple[str, bool]]:
    """The issue's two targets, judged at the largest size measured."""
    largest = max(result.rows for result in results)
    by = {(result.query, result.rows): result for result in results}
    newest = by[("newest 50, cursor form", largest)]
    create_now = by[("create a cash payment (wait=true)", largest)]
    create_empty = by[("create a cash payment (wait=true)", 0)]
    errors = sum(result.errors for result in results)
    return [
        (
            f"newest 50 (cursor) p50 < {NEWEST_TARGET_MS:.0f} ms at {largest:,} rows: {newest.p50_ms:.1f} ms",
            newest.p50_ms < NEWEST_TARGET_MS,
        ),
        (
            f"create p50 at {largest:,} rows within {CREATE_SLACK - 1:.0%} of the empty database's: "
            f"{create_now.p50_ms:.1f} ms against {create_empty.p50_ms:.1f} ms",
            create_now.p50_ms <= create_empty.p50_ms * CREATE_SLACK,
        ),
        (f"no errors: {errors}", errors == 0),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=lambda text: tuple(sorted(int(part) for part in text.split(","))),
        default=DEFAULT_SIZES,
        help="comma-separated row counts (default 10000,100000,1000000)",
    )
    parser.add_argument("--no-million", action="store_true", help="skip sizes of 1,000,000 rows and more (quick runs)")
    parser.add_argument("--samples", type=int, default=200, help="timed requests per query and size (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="uncounted requests before each (default 10)")
    args = parser.parse_args(argv)
    if args.no_million:
        args.sizes = tuple(size for size in args.sizes if size < 1_000_000)
    return args


def benchmark(sandbox: Sandbox, args: argparse.Namespace) -> None:
    with Session(sandbox) as session:
        session.start()
        credentials = provision(sandbox)
        results = asyncio.run(run_sizes(sandbox, credentials, args))
        session.stop()
    stamp = utc_stamp()
    lines = table(results)
    judged = verdicts(results)
    print(f"\nlatency p50 / p95 in ms, one request at a time ({args.samples} samples each)\n")
    print("\n".join(lines))
    print()
    for text, met in judged:
        print(f"{'met    ' if met else 'NOT met'}  {text}")
    path = write_results(
        {
            "timestamp": stamp,
            "machine": machine(),
            "samples": args.samples,
            "latencies": [asdict(result) for result in results],
            "verdicts": [{"target": text, "met": met} for text, met in judged],
        },
        f"growth-{stamp}",
    )
    print(f"\nresults: {path}\n\nMeasured {stamp} on {os.cpu_count()} cores (`python bench/growth.py`):\n")
    print("\n".join(lines))


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(run(lambda sandbox: benchmark(sandbox, arguments)))
