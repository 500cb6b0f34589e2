"""Soak: mixed traffic at a steady rate for a long time, watching for errors, a p99 that drifts and memory that grows.

The mix (one operation each, drawn at random by weight): a cash payment (create `wait=true`, complete), a Payme
payment (an order opened through the API, then CheckPerformTransaction, CreateTransaction, PerformTransaction), a
Click payment (an order opened through the API, then Prepare and Complete, signed), a partial refund of an earlier
cash payment, and reads (GET one, the newest 50 by cursor). First a closed loop finds the maximum operations/s of
that mix (`--max-seconds`); then operations start on a schedule (open loop) at `--share` of it (or `--rate`) for
`--minutes`. Each second it samples the rate, the errors, the p99 of the last 60 s and every `billing up`
process's resident memory (/proc), writes them to a CSV and plots rate, p99 and memory over time in a PNG.

On a server with autovacuum off (this project's CI machine has it off), the soak does autovacuum's work in
its stead: every 60 s it vacuums or analyses each table past autovacuum's default thresholds, with its
default throttle (`--no-vacuum` to see the difference).

Pass/fail: no error; the last minute's p99 is flat against the first minute's (at most 1.5 x, or 10 ms more);
each process's resident memory at the end is less than 10 % above what it was after the first two minutes.

    python bench/soak.py [--minutes 20] [--share 0.5] [--rate OPS] [--max-seconds 30]
    python bench/soak.py --minutes 1 --max-seconds 5      # a quick check that it works
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import csv
import json
import math
import random
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import cpu
import payme
from ceilings import percentile
from payments import PERMISSIONS, complete, create, get, post
from sandbox import RESULTS_DIR, Sandbox, Session, billing, create_tenant, log_tail, run, utc_stamp
from window import StepFailed

from shared.gateways.click.shop import Operation
from shared.gateways.click.simulate import click_request, new_click_ids

MIX: dict[str, int] = {"cash": 3, "payme": 2, "click": 2, "refund": 1, "get": 2, "list": 2}
CLICK_SERVICE_ID = 41_001
CLICK_SECRET = "soak-secret"  # noqa: S105  # the sandbox account's, signs our own simulated Click calls
CLICK = {"service_id": CLICK_SERVICE_ID, "merchant_id": 41_002, "merchant_user_id": 41_003, "secret_key": CLICK_SECRET}
CLICK_AMOUNT = 1_500_000  # tiyin: "15000.00" on Click's wire
REFUND_AMOUNT = 1_000
SETTLE_TIMEOUT_S = 10.0
MAX_IN_FLIGHT = 512
P99_WINDOW_S = 60.0
P99_SLACK = (1.5, 10.0)  # flat: the last minute's p99 at most 1.5 x the first's, or 10 ms more
RSS_GROWTH_LIMIT = 0.10
RSS_BASELINE_S = 120.0


# ---------------------------------------------------------------- the tenant and its accounts


@dataclass(frozen=True)
class Shop:
    """One tenant with an API key and a cash, a Payme and a Click account."""

    api_key: str
    cash: str
    payme: payme.PaymeAccount
    click: str


def provision(sandbox: Sandbox) -> Shop:
    tenant_id = create_tenant(sandbox)
    permissions = [arg for permission in PERMISSIONS for arg in ("--permission", permission)]
    key = billing(sandbox, "apikey", "create", "--tenant", tenant_id, *permissions)["key"]
    cash = billing(sandbox, "gateway", "add", "--tenant", tenant_id, "--gateway", "cash", "--config-json", "{}")["id"]
    click = billing(
        sandbox, "gateway", "add", "--tenant", tenant_id, "--gateway", "click", "--config-json", json.dumps(CLICK)
    )["id"]
    return Shop(key, cash, payme.provision(sandbox, tenant_id), click)


# ---------------------------------------------------------------- the operations


@dataclass
class Traffic:
    """What the operations share: the HTTP session, the shop, and the payments later operations act on."""

    http: aiohttp.ClientSession
    shop: Shop
    payme_calls: payme.Payme
    payme_stats: payme.PhaseStats
    paid_cash: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=10_000))
    known: list[str] = field(default_factory=list)

    def remember(self, transaction_id: str) -> None:
        if len(self.known) < 10_000:
            self.known.append(transaction_id)
        else:
            self.known[random.randrange(len(self.known))] = transaction_id


async def open_order(traffic: Traffic, gateway: str, account_id: str, details: dict[str, Any]) -> str:
    """A pending order through the API (`wait=true`, 201), as a shop opens one before the customer pays."""
    body = {"gateway": gateway, "account_id": account_id, "amount": CLICK_AMOUNT, "currency": "UZS", "details": details}
    status, answer = await post(traffic.http, f"{gateway} order", "/v1/transactions?wait=true", body)
    if status != 201:
        raise StepFailed(f"{gateway} order: HTTP {status}")
    transaction_id: str = answer["id"]
    traffic.remember(transaction_id)
    return transaction_id


async def cash(traffic: Traffic) -> None:
    transaction_id = await create(traffic.http, traffic.shop.cash)
    await complete(traffic.http, transaction_id)
    traffic.remember(transaction_id)
    traffic.paid_cash.append(transaction_id)


async def payme_payment(traffic: Traffic) -> None:
    reference = f"soak-{secrets.token_hex(8)}"
    account = traffic.shop.payme
    transaction_id = await open_order(
        traffic, "payme", account.account_id, {"account": {payme.ACCOUNT_FIELD: reference}}
    )
    order = payme.Order(transaction_id, reference)
    await payme.pay(traffic.payme_calls, order, traffic.payme_stats)


async def click_payment(traffic: Traffic) -> None:
    account_id = traffic.shop.click
    transaction_id = await open_order(traffic, "click", account_id, {})
    click_ids = new_click_ids()
    prepare_id: int | None = None
    for operation in (Operation.PREPARE, Operation.COMPLETE):
        fields = click_request(
            CLICK_SECRET,
            operation,
            service_id=CLICK_SERVICE_ID,
            merchant_trans_id=transaction_id,
            amount="15000.00",
            click_trans_id=click_ids[0],
            click_paydoc_id=click_ids[1],
            merchant_prepare_id=prepare_id,
        )
        step = f"click {operation.value}"
        try:
            async with traffic.http.post(f"/webhooks/click/{account_id}/{operation.value}", data=fields) as answer:
                document = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise StepFailed(f"{step}: {type(exc).__name__}") from exc
        if answer.status != 200 or not isinstance(document, dict) or document.get("error") != 0:
            raise StepFailed(f"{step}: {answer.status} {json.dumps(document)[:80]}")
        prepare_id = document.get("merchant_prepare_id")


async def refund(traffic: Traffic) -> None:
    """A partial refund of an earlier cash payment, once the processor has completed it."""
    if not traffic.paid_cash:
        return await cash(traffic)  # nothing paid yet (the first seconds): pay instead
    transaction_id = traffic.paid_cash.popleft()
    deadline = time.perf_counter() + SETTLE_TIMEOUT_S
    while True:
        tx = await get(traffic.http, "refund: read", f"/v1/transactions/{transaction_id}")
        if tx["status"] in ("completed", "partially_refunded"):
            break
        if time.perf_counter() > deadline:
            raise StepFailed(f"refund: payment still {tx['status']} after {SETTLE_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.05)
    body = {"amount": REFUND_AMOUNT, "reason": "soak"}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    status, _ = await post(traffic.http, "refund", f"/v1/transactions/{transaction_id}/refunds", body, headers=headers)
    if status != 202:
        raise StepFailed(f"refund: HTTP {status}")
    if tx["amount"] - tx["refunded_amount"] >= 3 * REFUND_AMOUNT:
        traffic.paid_cash.append(transaction_id)  # refundable again later
    return None


async def get_one(traffic: Traffic) -> None:
    if not traffic.known:
        return await cash(traffic)
    await get(traffic.http, "get", f"/v1/transactions/{random.choice(traffic.known)}")
    return None


async def list_newest(traffic: Traffic) -> None:
    page = await get(traffic.http, "list", "/v1/transactions", cursor="", page_size="50")
    if "next_cursor" not in page:
        raise StepFailed("list: not the cursor form")


OPERATIONS: dict[str, Callable[[Traffic], Awaitable[None]]] = {
    "cash": cash,
    "payme": payme_payment,
    "click": click_payment,
    "refund": refund,
    "get": get_one,
    "list": list_newest,
}


def draw(rng: random.Random) -> str:
    return rng.choices(list(MIX), weights=list(MIX.values()))[0]


# ---------------------------------------------------------------- counting


@dataclass
class Record:
    """Every finished operation (when it ended, how long it took) and every error, by the second."""

    started_at: float
    ends: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_times: list[float] = field(default_factory=list)
    dropped: int = 0

    async def timed(self, traffic: Traffic, name: str) -> None:
        began = time.perf_counter()
        try:
            await OPERATIONS[name](traffic)
        except StepFailed as failure:
            self.errors[failure.kind] += 1
            self.error_times.append(time.perf_counter() - self.started_at)
            return
        ended = time.perf_counter()
        self.ends.append(ended - self.started_at)  # appended in completion order: sorted
        self.latencies.append(ended - began)
        self.names.append(name)

    def between(self, start: float, end: float, name: str | None = None) -> list[float]:
        """Latencies of the operations (of one kind, if named) that ended in [start, end) seconds since the start."""
        window = slice(bisect.bisect_left(self.ends, start), bisect.bisect_left(self.ends, end))
        if name is None:
            return self.latencies[window]
        return [took for took, kind in zip(self.latencies[window], self.names[window], strict=True) if kind == name]

    def p99_by_operation(self, seconds: int, span: float) -> list[str]:
        """Each kind of operation's p99, first window against last: which of them drifts."""
        lines = []
        for name in OPERATIONS:
            first, last = self.between(0, span, name), self.between(seconds - span, seconds, name)
            if first and last:
                lines.append(
                    f"  {name:<14} p99 first {span:.0f} s {percentile(first, 0.99) * 1e3:7.1f} ms,"
                    f" last {span:.0f} s {percentile(last, 0.99) * 1e3:7.1f} ms"
                )
        return lines


async def find_maximum(traffic: Traffic, seconds: float, callers: int) -> float:
    """Closed loop: `callers` tasks run the mix back to back; the operations finished per second."""
    record = Record(time.perf_counter())
    stop = record.started_at + seconds
    rng = random.Random(1)

    async def loop() -> None:
        while time.perf_counter() < stop:
            await record.timed(traffic, draw(rng))

    await asyncio.gather(*(loop() for _ in range(callers)))
    if record.errors:
        print(f"  errors while finding the maximum: {dict(record.errors)}", file=sys.stderr)
    return len(record.ends) / seconds


@dataclass(frozen=True)
class Sample:
    """One second of the soak."""

    second: int
    rate: float
    errors: int
    p99_ms: float
    rss: dict[str, int]


async def sample_every_second(record: Record, session: int, seconds: int, samples: list[Sample]) -> None:
    processes = cpu.service_processes(session)
    for second in range(1, seconds + 1):
        await asyncio.sleep(max(0.0, record.started_at + second - time.perf_counter()))
        done = bisect.bisect_left(record.ends, second) - bisect.bisect_left(record.ends, second - 1)
        errors = sum(1 for moment in record.error_times if second - 1 <= moment < second)
        trailing = record.between(max(0.0, second - P99_WINDOW_S), second)
        rss = {f"{group} ({pid})": cpu.resident_bytes(pid) or 0 for pid, group in processes.items()}
        samples.append(Sample(second, float(done), errors, percentile(trailing, 0.99) * 1e3, rss))
        if second % 30 == 0:
            memory = ", ".join(f"{name} {value / 2**20:.0f} MiB" for name, value in rss.items())
            print(
                f"  {second:5d} s  {done:4d} ops/s  p99(60 s) {samples[-1].p99_ms:6.1f} ms  {memory}", file=sys.stderr
            )


async def soak(traffic: Traffic, rate: float, seconds: int, session: int) -> tuple[Record, list[Sample]]:
    """Open loop: an operation starts every 1/rate s whether or not earlier ones have finished."""
    record = Record(time.perf_counter())
    samples: list[Sample] = []
    sampler = asyncio.create_task(sample_every_second(record, session, seconds, samples))
    rng = random.Random(2)
    running: set[asyncio.Task[None]] = set()
    started = 0
    while True:
        due = record.started_at + started / rate
        if due >= record.started_at + seconds:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        started += 1
        if len(running) >= MAX_IN_FLIGHT:
            record.dropped += 1
            record.errors["dropped: too many in flight"] += 1
            record.error_times.append(time.perf_counter() - record.started_at)
            continue
        task = asyncio.create_task(record.timed(traffic, draw(rng)))
        running.add(task)
        task.add_done_callback(running.discard)
    await sampler
    await asyncio.gather(*running, return_exceptions=True)
    return record, samples


# ---------------------------------------------------------------- verdicts, CSV, plot


def verdicts(record: Record, samples: list[Sample], seconds: int) -> list[tuple[str, bool]]:
    minutes = max(1, seconds // 60)
    span = min(60.0, seconds / 2)
    first = percentile(record.between(0, span), 0.99) * 1e3
    last = percentile(record.between(seconds - span, seconds), 0.99) * 1e3
    allowed = max(first * P99_SLACK[0], first + P99_SLACK[1])
    errors = sum(record.errors.values())
    result = [
        (f"no error: {errors}" + (f" {dict(record.errors)}" if errors else ""), errors == 0),
        (
            f"p99 flat: last {span:.0f} s {last:.1f} ms against first {span:.0f} s {first:.1f} ms "
            f"(at most {allowed:.1f}; {minutes} min run)",
            last <= allowed,
        ),
    ]
    baseline_at = int(min(RSS_BASELINE_S, seconds / 5))
    base = next((sample for sample in samples if sample.second >= baseline_at), None)
    if base is not None and samples:
        for name, start in base.rss.items():
            end = samples[-1].rss.get(name, 0)
            growth = (end - start) / start if start else math.inf
            result.append(
                (
                    f"memory {name}: {start / 2**20:.1f} MiB at {base.second} s -> {end / 2**20:.1f} MiB "
                    f"({growth:+.1%}, limit {RSS_GROWTH_LIMIT:.0%})",
                    growth < RSS_GROWTH_LIMIT,
                )
            )
    return result


def write_csv(samples: list[Sample], path: Path) -> None:
    names = sorted({name for sample in samples for name in sample.rss})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["second", "ops_per_s", "errors", "p99_ms_last_60s", *(f"rss_bytes {n}" for n in names)])
        for sample in samples:
            row = [sample.second, sample.rate, sample.errors, round(sample.p99_ms, 2)]
            writer.writerow(row + [sample.rss.get(name, "") for name in names])


def plot(samples: list[Sample], rate: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    seconds = [sample.second / 60 for sample in samples]
    figure, (rates, p99s, memory) = plt.subplots(3, 1, sharex=True, figsize=(10, 9))
    rates.plot(seconds, [sample.rate for sample in samples], linewidth=0.8, label="finished")
    rates.axhline(rate, color="grey", linestyle="--", linewidth=0.8, label="offered")
    rates.set_ylabel("operations/s")
    rates.legend(loc="lower right")
    p99s.plot(seconds, [sample.p99_ms for sample in samples], color="tab:red", linewidth=0.8)
    p99s.set_ylabel("p99 of the last 60 s (ms)")
    for name in sorted({name for sample in samples for name in sample.rss}):
        memory.plot(seconds, [sample.rss.get(name, 0) / 2**20 for sample in samples], linewidth=0.8, label=name)
    memory.set_ylabel("resident memory (MiB)")
    memory.set_xlabel("minutes")
    memory.legend(loc="lower right", fontsize="small")
    figure.suptitle(f"soak at {rate:.1f} operations/s: {', '.join(f'{k} {v}' for k, v in MIX.items())}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# ---------------------------------------------------------------- main


VACUUM_EVERY_S = 60.0
"""autovacuum's default naptime: how often it looks at every table."""
AUTOVACUUM_DUE = (
    "SELECT s.relname AS name,"
    " s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0) AS vacuum,"
    " s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0) AS analyse"
    " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
)
"""The tables autovacuum would vacuum or analyse now, by its default thresholds (50 rows + 20 % dead, 10 % changed)."""
AUTOVACUUM_THROTTLE = ("SET vacuum_cost_delay = '2ms'", "SET vacuum_cost_limit = 200")
"""autovacuum's default cost-based throttle, so the stand-in weighs on the machine as autovacuum would."""


async def server_setting(dsn: str, name: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval(f"SHOW {name}"))
    finally:
        await connection.close()


async def vacuum_like_autovacuum(dsn: str, stop: asyncio.Event) -> int:
    """On a server with autovacuum off, what it would do in the sandbox's database: every minute, VACUUM or
    ANALYZE each table past autovacuum's default thresholds, throttled as autovacuum is. Returns how many.

    Without it the planner keeps the statistics of an empty database while the soak fills it (a tenant's newest
    50 went from a few ms to 70 ms in 20 minutes on such a server) and dead rows pile up in the outbox.
    """
    done = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), VACUUM_EVERY_S)
        if stop.is_set():
            break
        connection = await asyncpg.connect(dsn)
        try:
            for setting in AUTOVACUUM_THROTTLE:
                await connection.execute(setting)
            for table in await connection.fetch(AUTOVACUUM_DUE):
                if table["vacuum"] or table["analyse"]:
                    verb = "VACUUM (ANALYZE)" if table["vacuum"] else "ANALYZE"
                    await connection.execute(f'{verb} "{table["name"]}"')
                    done += 1
        finally:
            await connection.close()
    return done


async def run_soak(sandbox: Sandbox, shop: Shop, args: argparse.Namespace, session: int) -> dict[str, Any]:
    stop_vacuum = asyncio.Event()
    vacuum: asyncio.Task[int] | None = None
    if await server_setting(sandbox.dsn, "autovacuum") != "on":
        if args.no_vacuum:
            print("autovacuum is off on this server, and --no-vacuum: nothing vacuums or analyses", file=sys.stderr)
        else:
            print("autovacuum is off on this server: the soak does its work in its stead", file=sys.stderr)
            vacuum = asyncio.create_task(vacuum_like_autovacuum(sandbox.dsn, stop_vacuum))
    try:
        outcome = await drive(sandbox, shop, args, session)
    finally:
        stop_vacuum.set()
    outcome["vacuum_runs"] = None if vacuum is None else await vacuum
    return outcome


async def drive(sandbox: Sandbox, shop: Shop, args: argparse.Namespace, session: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {shop.api_key}"}
    async with payme.http_session(sandbox, MAX_IN_FLIGHT + 16) as http:
        http.headers.update(headers)  # the Payme calls send their own Basic credentials, which win
        stats = payme.new_stats(0.0, math.inf)
        traffic = Traffic(http, shop, payme.Payme(http, shop.payme), stats)
        rate = args.rate
        maximum = None
        if rate is None:
            print(f"finding the maximum: {args.callers} callers for {args.max_seconds:.0f} s", file=sys.stderr)
            maximum = await find_maximum(traffic, args.max_seconds, args.callers)
            rate = maximum * args.share
            print(f"  maximum {maximum:.1f} operations/s; soaking at {rate:.1f}", file=sys.stderr)
        seconds = round(args.minutes * 60)
        record, samples = await soak(traffic, rate, seconds, session)
    return {"rate": rate, "maximum": maximum, "seconds": seconds, "record": record, "samples": samples}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="soak length (default 20)")
    parser.add_argument("--share", type=float, default=0.5, help="share of the measured maximum (default 0.5)")
    parser.add_argument("--rate", type=float, help="operations/s to offer (skips finding the maximum)")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="closed loop finding the maximum (default 30)")
    parser.add_argument("--callers", type=int, default=32, help="callers finding the maximum (default 32)")
    parser.add_argument(
        "--no-vacuum", action="store_true", help="on a server with autovacuum off, do not stand in for it"
    )
    return parser.parse_args(argv)


def benchmark(sandbox: Sandbox, args: argparse.Namespace) -> None:
    with Session(sandbox) as session:
        session.start()
        shop = provision(sandbox)
        assert session.service is not None
        outcome = asyncio.run(run_soak(sandbox, shop, args, session.service.pid))
        session.stop()
        record: Record = outcome["record"]
        samples: list[Sample] = outcome["samples"]
        judged = verdicts(record, samples, outcome["seconds"])
        stamp = utc_stamp()
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        csv_path, png_path = RESULTS_DIR / f"soak-{stamp}.csv", RESULTS_DIR / f"soak-{stamp}.png"
        write_csv(samples, csv_path)
        plot(samples, outcome["rate"], png_path)
        finished = len(record.ends)
        maximum = "" if outcome["maximum"] is None else f" (maximum {outcome['maximum']:.1f}/s)"
        print(f"\nsoak {outcome['seconds']} s at {outcome['rate']:.1f} operations/s{maximum}: {finished} finished")
        if outcome["vacuum_runs"] is not None:
            print(f"autovacuum off on this server: {outcome['vacuum_runs']} tables vacuumed or analysed in its stead")
        for text, met in judged:
            print(f"{'pass' if met else 'FAIL'}  {text}")
        print(
            "\nby operation:\n"
            + "\n".join(record.p99_by_operation(outcome["seconds"], min(60.0, outcome["seconds"] / 2)))
        )
        print(f"\nper second: {csv_path}\nplot:       {png_path}")
        if record.errors:
            print(f"\ntail of the service log ({sandbox.log_path}):\n{log_tail(sandbox.log_path)}")
        print(f"\nsoak: {'PASS' if all(met for _, met in judged) else 'FAIL'}")


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(run(lambda sandbox: benchmark(sandbox, arguments)))
