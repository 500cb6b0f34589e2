"""Server time of every console page with 100 000 transactions in one tenant (target: under 200 ms each).

    python bench/console.py [--transactions 100000] [--rounds 20]

A sandbox of its own (database, vhost, `billing up`); the transactions are written straight into PostgreSQL
with generate_series (a load generator through the API would take an hour on this machine), spread over 30
days, every gateway and status, with gateway references in their details. Each page is fetched `rounds`
times by a signed-in operator over 127.0.0.1; the figures are the median and the 95th percentile of the
answer's full time, which over loopback is the server's time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid

import asyncpg
import httpx
from sandbox import Sandbox, Session, billing, billing_bin, create_tenant, run

PASSWORD = "bench operator password"  # noqa: S105 - a throwaway sandbox's operator
PERMISSIONS = (
    "billing.view",
    "billing.create",
    "billing.refund",
    "billing.cancel",
    "billing.reconcile",
    "billing.gateways.manage",
)
FILL = """
INSERT INTO transactions (id, tenant_id, account_id, gateway, status, amount, refunded_amount, currency, details,
                          metadata, created_at, updated_at)
SELECT gen_random_uuid(), $1, $2, (ARRAY['payme','click','octo','stripe','cash'])[1 + n % 5],
       (ARRAY['completed','completed','completed','pending','failed','canceled','refunded'])[1 + n % 7],
       100000 + (n % 997) * 1000, CASE WHEN n % 7 = 6 THEN 100000 + (n % 997) * 1000 ELSE 0 END,
       (ARRAY['UZS','UZS','UZS','USD'])[1 + n % 4],
       CASE n % 5 WHEN 0 THEN jsonb_build_object('payme_id', 'pm' || n)
                  WHEN 1 THEN jsonb_build_object('click_trans_id', 900000 + n, 'merchant_trans_id', 'order-' || n)
                  WHEN 2 THEN jsonb_build_object('octo_payment_uuid', md5(n::text))
                  WHEN 3 THEN jsonb_build_object('session_id', 'cs_' || n)
                  ELSE '{}'::jsonb END,
       jsonb_build_object('order', n),
       now() - make_interval(secs => n * (2592000.0 / $3)), now() - make_interval(secs => n * (2592000.0 / $3))
FROM generate_series(1, $3) AS n
"""


def operator(sandbox: Sandbox, tenant_id: str) -> str:
    email = f"bench-{tenant_id[:8]}@example.test"
    args = [billing_bin(), "operator", "create", "--tenant", tenant_id, "--email", email, "--password-stdin"]
    for permission in PERMISSIONS:
        args += ["--permission", permission]
    done = subprocess.run(args, env=sandbox.env(), input=PASSWORD, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SystemExit(f"operator create failed: {done.stderr.strip()}")
    return email


async def fill(sandbox: Sandbox, tenant_id: str, account_id: str, count: int) -> tuple[str, str]:
    """The tenant's transactions; returns one transaction id and one gateway reference to look up."""
    conn = await asyncpg.connect(sandbox.dsn)
    try:
        started = time.perf_counter()
        await conn.execute(FILL, uuid.UUID(tenant_id), uuid.UUID(account_id), count)
        await conn.execute("ANALYZE transactions")
        print(f"{count} transactions written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        row = await conn.fetchrow(
            "SELECT id, details->>'payme_id' AS ref FROM transactions WHERE details ? 'payme_id' LIMIT 1"
        )
        return str(row["id"]), str(row["ref"])
    finally:
        await conn.close()


def measure(sandbox: Sandbox, email: str, pages: dict[str, str], rounds: int) -> dict[str, tuple[float, float]]:
    figures: dict[str, tuple[float, float]] = {}
    with httpx.Client(base_url=sandbox.base_url, timeout=60) as http:
        signed = http.post("/console/login", data={"email": email, "password": PASSWORD})
        if signed.status_code != 303:
            raise SystemExit(f"sign-in failed: {signed.status_code}")
        for name, path in pages.items():
            http.get(path)  # warm: templates compiled, plans cached
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                answer = http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"{path}: {answer.status_code}")
            times.sort()
            figures[name] = (statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)])
    return figures


def benchmark(sandbox: Sandbox, args: argparse.Namespace) -> None:
    with Session(sandbox) as session:
        session.start()
        tenant_id = create_tenant(sandbox)
        account = billing(sandbox, "gateway", "add", "--tenant", tenant_id, "--gateway", "cash", "--config-json", "{}")
        email = operator(sandbox, tenant_id)
        tx_id, reference = asyncio.run(fill(sandbox, tenant_id, account["id"], args.transactions))
        pages = {
            "overview": "/console",
            "transactions": "/console/transactions",
            "transactions, page 100": "/console/transactions?page=100",
            "transactions, status + currency": "/console/transactions?status=completed&currency=USD",
            "transactions, amount range": "/console/transactions?amount_min=500000&amount_max=600000",
            "search by gateway reference": f"/console/transactions?q={reference}",
            "search by our id": f"/console/transactions?q={tx_id}",
            "a transaction": f"/console/transactions/{tx_id}",
            "refunds": "/console/refunds",
            "reconciliations": "/console/reconciliations",
            "accounts": "/console/accounts",
            "api keys": "/console/api-keys",
            "parked": "/console/parked",
        }
        figures = measure(sandbox, email, pages, args.rounds)
        started = time.perf_counter()
        with httpx.Client(base_url=sandbox.base_url, timeout=300) as http:
            http.post("/console/login", data={"email": email, "password": PASSWORD})
            exported = http.get("/console/transactions/export.csv")
        export_s = time.perf_counter() - started
        session.stop()
    print(f"\n| page ({args.transactions} transactions in the tenant) | median ms | p95 ms |")
    print("|---|---:|---:|")
    for name, (median, p95) in figures.items():
        print(f"| {name} | {median:.0f} | {p95:.0f} |")
    lines = exported.text.count("\n") - 1
    print(f"\nCSV export of all {lines} rows, streamed: {export_s:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    return run(lambda sandbox: benchmark(sandbox, args))


if __name__ == "__main__":
    sys.exit(main())
