"""Payme Merchant API benchmark: JSON-RPC calls through the ingress of `billing up`, as Payme makes them.

One Payme cycle pays one fresh order: CheckPerformTransaction, CreateTransaction (a new 24-character Payme
id) and PerformTransaction, each a POST to /webhooks/payme/{account} with the account's Basic credentials.
The orders are opened beforehand with `transaction.create` commands on billing.commands (as an upstream
module opens them, like `Simulation.open_order`), so creating them is not measured.

1. The raw ceilings (bench/ceilings.py `rpc`, and `pg_tx`, `http` and `pubsub` for the floor of one call) are
   measured first, on the idle machine.
2. Saturation: --callers concurrent callers (aiohttp, keep-alive) loop cycles: the maximum calls/s, and the
   CPU each process group spent per call (bench/cpu.py).
3. Paced: cycles start on a schedule (open loop: whether or not earlier ones have finished) so that calls
   arrive at --paced-share (0.5) of the saturation rate: the p99 at half the maximum load.

    python bench/payme.py [--seconds 20] [--warmup 3] [--callers 64] [--ceiling-seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import itertools
import json
import math
import os
import random
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import cpu
from ceilings import (
    Ceiling,
    floor,
    http_ceiling,
    made_of,
    percentile,
    pg_tx_ceiling,
    print_floor,
    pubsub_ceiling,
    rpc_ceiling,
    with_cpu,
)
from sandbox import (
    CLIENT_KEEPALIVE_S,
    Sandbox,
    Session,
    billing,
    create_tenant,
    log_tail,
    machine,
    run,
    utc_stamp,
    write_results,
)
from window import StepFailed, Window

from shared.messages import COMMANDS_EXCHANGE, CreateTransactionMessage

MERCHANT_ID = "587f72c72cac0d162c722ae2"  # gateways.md's test vectors
KEY = "fkWW6UNrzvzyV6DhrdHJ6aEhr3dRcvJYkaGx"
ACCOUNT_FIELD = "order_id"  # the account's default
AMOUNT = 1_500_000  # 15 000 UZS in tiyin
CHECK, CREATE, PERFORM = "CheckPerformTransaction", "CreateTransaction", "PerformTransaction"
METHODS = (CHECK, CREATE, PERFORM)
ALL = "all"
CALL_PARTS: dict[str, float] = {"rpc": 1, "pg_tx": 1, "http": 1, "pubsub": 2 / 3}
"""The raw operations one Payme call cannot do without: an HTTP exchange, a request-reply between the ingress and
the processor, the processor's database transaction, and the domain event that Create and Perform each publish
(two confirmed messages in three calls; Check publishes none)."""
TARGET_CEILING_SHARE = 0.5  # the issue: at least half the request-reply ceiling's rate ...
TARGET_P99_MS = 100.0  # ... and p99 under 100 ms at half the maximum load
SUSTAINED_SHARE = 0.95  # the paced phase must answer this share of its offered rate to count
# Orders for saturation: what a service answering 60% of the ceiling's rate would use up. Above that the pool
# empties before the window closes: the window then ends there, so the rate stays exact over a shorter window.
ORDERS_AT_CEILING_SHARE = 0.6
PACED_ORDER_MARGIN = 1.2
CALL_TIMEOUT_S = 30.0  # the ingress itself answers -32400 after BILLING_RPC_TIMEOUT_S (5 s)
DRAIN_TIMEOUT_S = 50.0
PUBLISH_IN_FLIGHT = 256
ORDERS_STALL_S = 60.0  # no new order for this long: the processor is stuck
QUIET_TIMEOUT_S = 60.0  # how long to wait for the outbox to drain before a phase
LOG_LEVEL = re.compile(r'"level": ?"(warning|error|critical)"')


# ---------------------------------------------------------------- the account and its orders


@dataclass(frozen=True)
class PaymeAccount:
    """The tenant and the Payme account the calls go to."""

    tenant_id: str
    account_id: str
    key: str

    @property
    def path(self) -> str:
        """The Merchant API endpoint of this account."""
        return f"/webhooks/payme/{self.account_id}"

    @property
    def authorization(self) -> str:
        """Payme's Basic credentials: base64("Paycom:" + key)."""
        return "Basic " + base64.b64encode(f"Paycom:{self.key}".encode()).decode()


def provision(sandbox: Sandbox, tenant_id: str | None = None) -> PaymeAccount:
    """A Payme account (merchant id and key from gateways.md's test vectors) of a new tenant, or of `tenant_id`,
    through the CLI."""
    tenant_id = tenant_id or create_tenant(sandbox)
    config = json.dumps({"merchant_id": MERCHANT_ID, "key": KEY})
    account = billing(sandbox, "gateway", "add", "--tenant", tenant_id, "--gateway", "payme", "--config-json", config)
    return PaymeAccount(tenant_id=tenant_id, account_id=account["id"], key=KEY)


@dataclass(frozen=True)
class Order:
    """A pending Payme order: our transaction id and the `account.order_id` value Payme names it by."""

    transaction_id: str
    reference: str


def create_command(account: PaymeAccount, order: Order) -> CreateTransactionMessage:
    """The `transaction.create` command an upstream module would send for this order."""
    return CreateTransactionMessage(
        command_id=f"bench:{order.transaction_id}",
        tenant_id=uuid.UUID(account.tenant_id),
        actor="bench",
        transaction_id=uuid.UUID(order.transaction_id),
        gateway="payme",
        account_id=uuid.UUID(account.account_id),
        amount=AMOUNT,
        currency="UZS",
        details={"account": {ACCOUNT_FIELD: order.reference}},
        metadata={"bench": True},
    )


async def publish_orders(amqp_url: str, account: PaymeAccount, orders: list[Order]) -> None:
    """Publish one confirmed, persistent `transaction.create` per order, many confirms in flight."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(COMMANDS_EXCHANGE, ensure=False)
        in_flight = asyncio.Semaphore(PUBLISH_IN_FLIGHT)

        async def publish(order: Order) -> None:
            command = create_command(account, order)
            message = aio_pika.Message(
                command.model_dump_json().encode(),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
                message_id=command.command_id,
            )
            async with in_flight:
                await exchange.publish(message, routing_key="transaction.create", mandatory=True)

        await asyncio.gather(*(publish(order) for order in orders))
    finally:
        await connection.close()


async def wait_created(dsn: str, orders: list[Order]) -> None:
    """Block until the processor has created every order as a pending transaction."""
    ids = [uuid.UUID(order.transaction_id) for order in orders]
    connection = await asyncpg.connect(dsn)
    try:
        created, last_change, last_print = -1, time.monotonic(), time.monotonic()
        while True:
            row = await connection.fetchrow(
                "SELECT count(*) AS created, count(*) FILTER (WHERE status = 'pending') AS pending"
                " FROM transactions WHERE id = ANY($1::uuid[])",
                ids,
            )
            assert row is not None
            if row["created"] != row["pending"]:
                raise RuntimeError(f"{row['created'] - row['pending']} orders were created but are not pending")
            if row["created"] == len(ids):
                return
            now = time.monotonic()
            if row["created"] != created:
                created, last_change = row["created"], now
            elif now - last_change > ORDERS_STALL_S:
                raise RuntimeError(f"the processor stopped creating orders at {created} of {len(ids)}")
            if now - last_print >= 5:
                print(f"  orders: {created} of {len(ids)} created", file=sys.stderr)
                last_print = now
            await asyncio.sleep(0.25)
    finally:
        await connection.close()


async def wait_quiet(dsn: str) -> int:
    """Wait until the outbox has sent every event (so a phase does not pay for the one before); return what is left."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + QUIET_TIMEOUT_S
        while True:
            unsent: int = await connection.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            if unsent == 0 or time.monotonic() > deadline:
                return unsent
            await asyncio.sleep(0.25)
    finally:
        await connection.close()


def open_orders(sandbox: Sandbox, account: PaymeAccount, count: int) -> collections.deque[Order]:
    """Open `count` fresh orders through the broker and wait until they exist and the service is quiet again."""
    started = time.perf_counter()
    orders = [Order(str(uuid.uuid4()), f"bench-{secrets.token_hex(8)}") for _ in range(count)]
    print(f"opening {count} orders (transaction.create commands)", file=sys.stderr)
    asyncio.run(publish_orders(sandbox.amqp_url, account, orders))
    asyncio.run(wait_created(sandbox.dsn, orders))
    unsent = asyncio.run(wait_quiet(sandbox.dsn))
    elapsed = time.perf_counter() - started
    note = f"; {unsent} outbox events still unsent after {QUIET_TIMEOUT_S:.0f} s" if unsent else ""
    print(f"  {count} orders open in {elapsed:.1f} s ({count / elapsed:.0f}/s){note}", file=sys.stderr)
    return collections.deque(orders)


# ---------------------------------------------------------------- Payme's calls


@dataclass
class PhaseStats(Window):
    """Answered calls by method, errors, and cycles, split by whether they fall in the measured window."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {method: [] for method in METHODS})
    cycles: int = 0
    start_lags: list[float] = field(default_factory=list)
    orders_ran_out: bool = False
    cpu: list[cpu.CpuShare] = field(default_factory=list)

    def answered(self, method: str, started: float, ended: float) -> None:
        """Count a call whose expected answer arrived inside the window."""
        if self.inside(ended):
            self.latencies[method].append(ended - started)

    def cycle_done(self, ended: float) -> None:
        """Count a cycle whose PerformTransaction was answered inside the window."""
        if self.inside(ended):
            self.cycles += 1

    def ran_out(self) -> None:
        """No order left: the window ends now, while every caller was still busy."""
        self.orders_ran_out = True
        self.window_end = min(self.window_end, time.perf_counter())

    @property
    def measured_s(self) -> float:
        """The length of the window (shorter than planned when the orders ran out)."""
        return max(0.0, self.window_end - self.window_start)

    def answered_calls(self) -> int:
        """Calls answered inside the window, all methods."""
        return sum(len(samples) for samples in self.latencies.values())


class Payme:
    """Payme's side: numbered JSON-RPC calls over one keep-alive aiohttp session."""

    def __init__(self, http: aiohttp.ClientSession, account: PaymeAccount) -> None:
        self._http = http
        self._path = account.path
        self._headers = {"Authorization": account.authorization}
        self._ids: Iterator[int] = itertools.count(1)

    async def call(
        self, stats: PhaseStats, method: str, params: dict[str, Any], expected: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """One call, timed and counted when its result is the expected one; otherwise StepFailed."""
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        started = time.perf_counter()
        try:
            async with self._http.post(self._path, json=body, headers=self._headers) as answer:
                status = answer.status
                document = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise StepFailed(f"{method}: {type(exc).__name__}") from exc
        ended = time.perf_counter()
        if status != 200:
            raise StepFailed(f"{method}: HTTP {status}")
        if not isinstance(document, dict) or document.get("id") != request_id:
            raise StepFailed(f"{method}: not an answer to this call")
        error = document.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else error
            raise StepFailed(f"{method}: error {code}")
        result = document.get("result")
        if not isinstance(result, dict) or not expected(result):
            raise StepFailed(f"{method}: unexpected result {json.dumps(result)[:120]}")
        stats.answered(method, started, ended)
        return result


def now_ms() -> int:
    """Payme's clock: milliseconds since the epoch."""
    return int(time.time() * 1000)


async def pay(payme: Payme, order: Order, stats: PhaseStats) -> None:
    """Check, Create and Perform for one order with a new Payme id; a wrong answer raises StepFailed."""
    account = {ACCOUNT_FIELD: order.reference}
    payme_id = secrets.token_hex(12)  # Payme's ids are 24 characters
    await payme.call(stats, CHECK, {"amount": AMOUNT, "account": account}, lambda r: r == {"allow": True})
    create = {"id": payme_id, "time": now_ms(), "amount": AMOUNT, "account": account}
    await payme.call(
        stats, CREATE, create, lambda r: r.get("state") == 1 and r.get("transaction") == order.transaction_id
    )
    await payme.call(stats, PERFORM, {"id": payme_id}, lambda r: r.get("state") == 2 and bool(r.get("perform_time")))
    stats.cycle_done(time.perf_counter())


async def one_cycle(payme: Payme, order: Order, stats: PhaseStats) -> None:
    """One paid order (see `pay`); errors are counted, never raised."""
    started = time.perf_counter()
    try:
        await pay(payme, order, stats)
    except StepFailed as failure:
        stats.failed(started, failure.kind)


def http_session(sandbox: Sandbox, connections: int) -> aiohttp.ClientSession:
    """One HTTP/1.1 session, a keep-alive connection per concurrent cycle, dropped after 3 s idle."""
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=CLIENT_KEEPALIVE_S)
    return aiohttp.ClientSession(
        base_url=sandbox.base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    )


async def drain(tasks: set[asyncio.Task[None]] | list[asyncio.Task[None]], window_end: float) -> None:
    """Wait for the tasks; cycles in flight when the window closes get 50 s more (uncounted), then are cancelled."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, window_end - time.perf_counter()) + DRAIN_TIMEOUT_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def report_progress(stats: PhaseStats, every_s: float = 5.0) -> None:
    """Print the running count of measured calls and errors to stderr."""
    while True:
        await asyncio.sleep(every_s)
        phase = "warm-up" if time.perf_counter() < stats.window_start else "measuring"
        errors = sum(stats.errors.values()) + sum(stats.warmup_errors.values())
        print(f"  {phase}: {stats.answered_calls()} calls counted, {errors} errors", file=sys.stderr)


def new_stats(warmup: float, seconds: float) -> PhaseStats:
    """Stats whose window opens after the warm-up, counted from now."""
    now = time.perf_counter()
    return PhaseStats(window_start=now + warmup, window_end=now + warmup + seconds)


async def saturate(
    sandbox: Sandbox,
    account: PaymeAccount,
    orders: collections.deque[Order],
    args: argparse.Namespace,
    service_pid: int,
) -> PhaseStats:
    """Closed loop: --callers callers, each paying one order after another until the window closes."""
    async with http_session(sandbox, args.callers + 8) as http:
        payme = Payme(http, account)
        stats = new_stats(args.warmup, args.seconds)

        async def caller() -> None:
            while time.perf_counter() < stats.window_end:
                if not orders:
                    stats.ran_out()
                    return
                await one_cycle(payme, orders.popleft(), stats)

        progress = asyncio.create_task(report_progress(stats))
        metered = asyncio.create_task(cpu.measure_window(service_pid, stats.window_start, stats.window_end))
        try:
            await drain([asyncio.create_task(caller()) for _ in range(args.callers)], stats.window_end)
            before, after = await metered
            stats.cpu = cpu.shares(before, after, stats.answered_calls())
        finally:
            progress.cancel()
            metered.cancel()
        return stats


def arrival_gaps(cycles_per_s: float, arrivals: str, seed: int) -> Iterator[float]:
    """The time between two cycle starts: constant, or exponential (Poisson arrivals) with the same mean."""
    rng = random.Random(seed)
    while True:
        yield 1.0 / cycles_per_s if arrivals == "uniform" else rng.expovariate(cycles_per_s)


async def pace(
    sandbox: Sandbox,
    account: PaymeAccount,
    orders: collections.deque[Order],
    cycles_per_s: float,
    args: argparse.Namespace,
) -> PhaseStats:
    """Open loop: start a cycle at each scheduled time, whether or not earlier cycles have finished."""
    async with http_session(sandbox, args.max_in_flight) as http:
        payme = Payme(http, account)
        stats = new_stats(args.warmup, args.seconds)
        in_flight: set[asyncio.Task[None]] = set()
        progress = asyncio.create_task(report_progress(stats))
        try:
            due = time.perf_counter()
            for gap in arrival_gaps(cycles_per_s, args.arrivals, seed=1):
                if due >= stats.window_end:
                    break
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if due >= stats.window_start:
                    stats.start_lags.append(time.perf_counter() - due)
                if not orders:
                    stats.ran_out()
                    break
                if len(in_flight) >= args.max_in_flight:
                    stats.failed(due, f"not started: {args.max_in_flight} cycles in flight")
                else:
                    task = asyncio.create_task(one_cycle(payme, orders.popleft(), stats))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                due += gap
            await drain(set(in_flight), stats.window_end)
        finally:
            progress.cancel()
        return stats


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Figures:
    """Calls answered inside the window: how many, the rate, and the latency percentiles."""

    calls: int
    per_second: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, samples: list[float], seconds: float) -> Figures:
        """The figures of a set of latencies measured over `seconds`."""
        return cls(
            calls=len(samples),
            per_second=len(samples) / seconds,
            p50_ms=percentile(samples, 0.50) * 1e3,
            p99_ms=percentile(samples, 0.99) * 1e3,
        )


@dataclass(frozen=True)
class PhaseResult:
    """One phase's figures, per method and for all three together (under "all")."""

    name: str
    seconds: float
    warmup_s: float
    callers: int | None
    offered_calls_per_s: float | None
    arrivals: str | None
    cycles: int
    cycles_per_s: float
    methods: dict[str, Figures]
    errors: dict[str, int]
    warmup_errors: dict[str, int]
    orders_ran_out: bool
    start_lag_p99_ms: float | None
    cpu: list[cpu.CpuShare]

    @property
    def overall(self) -> Figures:
        """All three methods together."""
        return self.methods[ALL]


def summarise(name: str, stats: PhaseStats, args: argparse.Namespace, offered: float | None = None) -> PhaseResult:
    """Rates and percentiles of the measured window."""
    seconds = stats.measured_s
    if seconds <= 0:
        raise RuntimeError(f"{name}: the orders ran out during the warm-up; rerun with a larger --orders")
    every = [sample for method in METHODS for sample in stats.latencies[method]]
    methods = {method: Figures.of(stats.latencies[method], seconds) for method in METHODS}
    return PhaseResult(
        name=name,
        seconds=seconds,
        warmup_s=args.warmup,
        callers=None if offered else args.callers,
        offered_calls_per_s=offered,
        arrivals=args.arrivals if offered else None,
        cycles=stats.cycles,
        cycles_per_s=stats.cycles / seconds,
        methods={ALL: Figures.of(every, seconds), **methods},
        errors=dict(stats.errors),
        warmup_errors=dict(stats.warmup_errors),
        orders_ran_out=stats.orders_ran_out,
        start_lag_p99_ms=percentile(stats.start_lags, 0.99) * 1e3 if offered else None,
        cpu=stats.cpu,
    )


@dataclass(frozen=True)
class Verdict:
    """The issue's two targets."""

    rate_share: float
    rate_met: bool
    paced_load_share: float
    paced_p99_ms: float
    paced_sustained: bool
    p99_met: bool


def judge(saturation: PhaseResult, paced: PhaseResult, ceiling: Ceiling) -> Verdict:
    """>= half the ceiling's rate at saturation; p99 < 100 ms at half load, the offered rate being answered."""
    share = saturation.overall.per_second / ceiling.rate if ceiling.rate else 0.0
    maximum = saturation.overall.per_second
    sustained = paced.overall.per_second >= SUSTAINED_SHARE * (paced.offered_calls_per_s or 0.0)
    return Verdict(
        rate_share=share,
        rate_met=share >= TARGET_CEILING_SHARE,
        paced_load_share=(paced.offered_calls_per_s or 0.0) / maximum if maximum else 0.0,
        paced_p99_ms=paced.overall.p99_ms,
        paced_sustained=sustained,
        p99_met=sustained and paced.overall.p99_ms < TARGET_P99_MS,
    )


def budget(ceiling: Ceiling, parts: list[Ceiling], shares: list[cpu.CpuShare]) -> str | None:
    """The budget of one call at the target (half the rpc ceiling), with a bare round trip's Python for scale."""
    found = floor(parts, CALL_PARTS)
    if found is None or not ceiling.rate or ceiling.own_cpu_ms is None:
        return None
    room = cpu.Budget.of(TARGET_CEILING_SHARE * ceiling.rate, found[0], shares, "call")
    if room is None:
        return None
    return (
        f"{room.in_words()} For scale: the drivers' own Python for one bare rpc round trip costs "
        f"{ceiling.own_cpu_ms:.2f} ms."
    )


def phase_title(phase: PhaseResult) -> str:
    """How a phase was driven, in words."""
    if phase.offered_calls_per_s is None:
        return f"saturation, {phase.callers} callers"
    return f"paced at {phase.offered_calls_per_s:,.0f} calls/s offered ({phase.arrivals} arrivals)"


def print_phase(phase: PhaseResult, ceiling: Ceiling) -> None:
    """Print one phase's figures, each method's rate also as a share of the ceiling."""
    print(f"\n{phase_title(phase)}: {phase.seconds:.1f} s after a {phase.warmup_s:.0f} s warm-up")
    print(f"  {'method':26s} {'calls':>7s} {'calls/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'/ ceiling':>9s}")
    for method, figures in phase.methods.items():
        ratio = figures.per_second / ceiling.rate if ceiling.rate else 0.0
        print(
            f"  {method:26s} {figures.calls:7d} {figures.per_second:9.1f} {figures.p50_ms:8.1f} "
            f"{figures.p99_ms:8.1f} {ratio:9.3f}"
        )
    print(f"  cycles     {phase.cycles_per_s:.1f}/s ({phase.cycles} paid)")
    if phase.start_lag_p99_ms is not None:
        print(f"  start lag  p99 {phase.start_lag_p99_ms:.1f} ms (how late the client started cycles)")
    print(f"  errors     {sum(phase.errors.values())}" + "".join(f"\n    {n:6d}  {k}" for k, n in phase.errors.items()))
    if phase.warmup_errors:
        print(f"    (and {sum(phase.warmup_errors.values())} during the warm-up: {phase.warmup_errors})")
    if phase.orders_ran_out:
        print("  the orders ran out: the window was cut short there (a larger --orders gives a longer one)")
    if phase.cpu:
        cpu.print_shares(f"{phase.overall.per_second:.0f} calls/s", phase.cpu, "call")


def print_verdict(verdict: Verdict, ceiling: Ceiling) -> None:
    """Print the ceiling and whether the targets were met."""
    print(
        f"\nceiling   rpc {ceiling.rate:.0f} {ceiling.unit} (p50 {ceiling.p50_ms or 0:.2f} ms, "
        f"p99 {ceiling.p99_ms or 0:.2f} ms), idle machine, before the service started"
    )
    rate = "met" if verdict.rate_met else "NOT met"
    print(f"target    saturation >= {TARGET_CEILING_SHARE:.0%} of the ceiling: {verdict.rate_share:.3f}, {rate}")
    p99 = "met" if verdict.p99_met else "NOT met"
    unsustained = "" if verdict.paced_sustained else " (the offered rate was not sustained)"
    load = f"{verdict.paced_load_share:.0%} of the maximum load"
    print(f"target    p99 < {TARGET_P99_MS:.0f} ms at {load}: {verdict.paced_p99_ms:.1f} ms, {p99}{unsustained}")


def service_log_problems(path: Path) -> dict[str, int]:
    """How many lines of the service log are warnings, errors, critical, or start a traceback."""
    found: collections.Counter[str] = collections.Counter()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        level = LOG_LEVEL.search(line)
        if level:
            found[level.group(1)] += 1
        elif line.startswith("Traceback"):
            found["traceback"] += 1
    return dict(found)


def results_document(
    phases: list[PhaseResult],
    ceiling: Ceiling,
    verdict: Verdict,
    sandbox: Sandbox,
    stamp: str,
    problems: dict[str, int],
) -> dict[str, Any]:
    """Everything measured, as one JSON document."""
    return {
        "benchmark": "payme",
        "timestamp": stamp,
        "machine": machine(),
        "targets": {"ceiling_share": TARGET_CEILING_SHARE, "p99_ms_at_half_load": TARGET_P99_MS},
        "verdict": asdict(verdict),
        "phases": [asdict(phase) for phase in phases],
        "ceiling": ceiling.as_dict(),
        "service_log": str(sandbox.log_path),
        "service_log_problems": problems,
    }


def markdown_table(
    phases: list[PhaseResult], ceiling: Ceiling, verdict: Verdict, stamp: str, parts: list[Ceiling]
) -> str:
    """A table fit for docs/performance.md."""
    saturation = phases[0]
    rows = [
        f"Measured {stamp} on {os.cpu_count()} cores (`python bench/payme.py`): Check, Create and Perform "
        f"for fresh orders through the ingress, each phase {saturation.seconds:.0f} s after a "
        f"{saturation.warmup_s:.0f} s warm-up.",
        "",
        "| phase | method | calls/s | p50 ms | p99 ms | calls/s ÷ rpc ceiling |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for phase in phases:
        for method, figures in phase.methods.items():
            ratio = figures.per_second / ceiling.rate if ceiling.rate else 0.0
            label = phase_title(phase) if method == ALL else ""
            name = "all three" if method == ALL else f"`{method}`"
            rows.append(
                f"| {label} | {name} | {figures.per_second:,.0f} | {figures.p50_ms:,.1f} | "
                f"{figures.p99_ms:,.1f} | {ratio:.3f} |"
            )
    rows.append(
        f"| ceiling `rpc` | {ceiling.what} | {ceiling.rate:,.0f} | {ceiling.p50_ms or 0:,.1f} | "
        f"{ceiling.p99_ms or 0:,.1f} | 1 |"
    )
    errors = "; ".join(
        f"{phase.name}: " + (", ".join(f"{k}: {n}" for k, n in phase.errors.items()) or "none") for phase in phases
    )
    rows += [
        "",
        f"Errors: {errors}. Targets: saturation ≥ {TARGET_CEILING_SHARE:.0%} of the ceiling "
        f"({verdict.rate_share:.3f}: {'met' if verdict.rate_met else 'not met'}); p99 < {TARGET_P99_MS:.0f} ms "
        f"at {verdict.paced_load_share:.0%} of the maximum load ({verdict.paced_p99_ms:.1f} ms: "
        f"{'met' if verdict.p99_met else 'not met'}{'' if verdict.paced_sustained else ', rate not sustained'}).",
    ]
    found = floor(parts, CALL_PARTS)
    if found is not None:
        spent = ", ".join(
            f"`{p.name}` {p.rate:,.0f} {p.unit} at {p.cpu_ms or 0:.3f} ms CPU each "
            f"({p.own_cpu_ms or 0:.3f} ms in the drivers' Python)"
            for p in parts
        )
        rows += [
            "",
            f"Floor: one call = {made_of(CALL_PARTS, '`')} ({spent}): {found[0]:.2f} ms of CPU, at most "
            f"{found[1]:,.0f} calls/s on {os.cpu_count()} cores with no application code "
            f"({found[1] / ceiling.rate:.0%} of the rpc ceiling).",
        ]
    room = budget(ceiling, parts, saturation.cpu)
    if room is not None:
        rows += ["", f"Budget: {room}"]
    if saturation.cpu:
        rows += cpu.markdown_rows("CPU at saturation", saturation.cpu, "call")
    return "\n".join(rows)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time of each phase (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted warm-up of each phase (default 3)")
    parser.add_argument("--callers", type=int, default=64, help="concurrent callers when saturating (default 64)")
    parser.add_argument(
        "--paced-share", type=float, default=0.5, help="paced rate as a share of the saturation rate (default 0.5)"
    )
    parser.add_argument(
        "--arrivals", choices=("uniform", "poisson"), default="uniform", help="paced cycle starts (default uniform)"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=512, help="paced: cycles in flight before starts are dropped (512)"
    )
    parser.add_argument("--ceiling-seconds", type=float, default=4.0, help="time of each ceiling (default 4)")
    parser.add_argument(
        "--paced-rate", type=float, default=None, help="paced calls/s, instead of --paced-share of the saturation rate"
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=None,
        help="orders for saturation (default: what 60%% of the ceiling's rate would pay in warm-up + seconds)",
    )
    return parser.parse_args(argv)


def saturation_orders(ceiling: Ceiling, args: argparse.Namespace) -> int:
    """--orders, else enough orders for a service answering 60% of the ceiling's rate for warm-up + seconds."""
    if args.orders:
        return int(args.orders)
    window: float = args.warmup + args.seconds
    return math.ceil(ceiling.rate * ORDERS_AT_CEILING_SHARE / len(METHODS) * window) + 100


def benchmark(sandbox: Sandbox, args: argparse.Namespace) -> None:
    """Ceiling, saturation, paced phase, report."""
    with Session(sandbox) as session:
        print(
            f"ceilings: rpc, pg_tx, http, pubsub for {args.ceiling_seconds:.0f} s each, idle machine", file=sys.stderr
        )
        ceiling = asyncio.run(with_cpu(rpc_ceiling(sandbox.amqp_url, args.ceiling_seconds)))
        parts = [
            ceiling,
            asyncio.run(with_cpu(pg_tx_ceiling(sandbox.dsn, args.ceiling_seconds))),
            asyncio.run(with_cpu(http_ceiling(args.ceiling_seconds))),
            asyncio.run(with_cpu(pubsub_ceiling(sandbox.amqp_url, args.ceiling_seconds))),
        ]
        session.start()
        account = provision(sandbox)

        orders = open_orders(sandbox, account, saturation_orders(ceiling, args))
        print(
            f"saturation: {args.callers} callers, {args.warmup:.0f} s warm-up + {args.seconds:.0f} s", file=sys.stderr
        )
        assert session.service is not None
        saturated = asyncio.run(saturate(sandbox, account, orders, args, session.service.pid))
        saturation = summarise("saturation", saturated, args)

        offered: float = args.paced_rate or saturation.overall.per_second * args.paced_share
        cycles_per_s = offered / len(METHODS)
        if cycles_per_s <= 0:
            raise RuntimeError("no call was answered while saturating: nothing to pace")
        paced_orders = math.ceil(cycles_per_s * (args.warmup + args.seconds) * PACED_ORDER_MARGIN) + 50
        orders = open_orders(sandbox, account, paced_orders)
        print(f"paced: {offered:.0f} calls/s, {args.warmup:.0f} s warm-up + {args.seconds:.0f} s", file=sys.stderr)
        paced_stats = asyncio.run(pace(sandbox, account, orders, cycles_per_s, args))
        paced = summarise("paced", paced_stats, args, offered=offered)
        session.stop()

        phases = [saturation, paced]
        verdict = judge(saturation, paced, ceiling)
        for phase in phases:
            print_phase(phase, ceiling)
        print_verdict(verdict, ceiling)
        floor_rate = print_floor(parts, CALL_PARTS, "call")
        if floor_rate is not None:
            print(f"          that is {floor_rate / ceiling.rate:.0%} of the rpc ceiling")
        room = budget(ceiling, parts, saturation.cpu)
        if room is not None:
            print(f"\nbudget    {room}")
        problems = service_log_problems(sandbox.log_path)
        counts = ", ".join(f"{n} {level}" for level, n in problems.items()) or "no warnings or errors"
        print(f"\nservice log {sandbox.log_path}: {counts}")
        if problems or any(phase.errors or phase.warmup_errors for phase in phases):
            print(f"tail of the service log:\n{log_tail(sandbox.log_path)}")
        stamp = utc_stamp()
        document = results_document(phases, ceiling, verdict, sandbox, stamp, problems)
        document["parts"] = [part.as_dict() for part in parts]
        path = write_results(document, f"payme-{stamp}")
        print(f"\nresults written to {path}\n\n{markdown_table(phases, ceiling, verdict, stamp, parts)}")


def main() -> int:
    """Run the benchmark once in its own sandbox."""
    args = parse_args()
    return run(lambda sandbox: benchmark(sandbox, args))


if __name__ == "__main__":
    sys.exit(main())
