"""End-to-end payment benchmark: cash payments through `billing up`, measured as an outsider sees them.

Each client loops: POST /v1/transactions?wait=true (201), POST /v1/transactions/{id}/complete (202),
then waits for that transaction's `transaction.completed` event on `billing.events`. A payment's
latency runs from the first POST to its event. The CPU each process group spent per payment is read from
/proc during the window (bench/cpu.py). Afterwards the raw-driver ceilings (bench/ceilings.py) are measured
in the same run, the payment rate is set against each, and their CPU per operation gives the floor of one
payment's raw parts.

    python bench/payments.py [--seconds 20] [--clients 64] [--warmup 3] [--ceiling-seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import aio_pika
import aiohttp
import cpu
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from ceilings import Ceiling, floor, made_of, measure_all, percentile, print_floor
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

PERMISSIONS = ("billing.view", "billing.create", "billing.refund", "billing.cancel")
EVENTS_EXCHANGE = "billing.events"
COMPLETED_KEY = "transaction.completed"
EVENT_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 50.0
TARGET_PER_S = 300.0
PAYMENT_PARTS: dict[str, float] = {"pubsub": 4, "pg_tx": 2, "http": 2}
"""The raw operations one payment cannot do without: two commands and two events (the created event the
ingress waits on, the completed one the client waits on), each a confirmed persistent message consumed and
acked; a database transaction for each command; two HTTP exchanges."""
AMOUNT = 150000


# ---------------------------------------------------------------- provisioning


@dataclass(frozen=True)
class Credentials:
    """What a client needs to pay: an API key and a cash gateway account."""

    api_key: str
    account_id: str


def provision(sandbox: Sandbox) -> Credentials:
    """A tenant, an API key and a cash account, through the CLI."""
    tenant_id = create_tenant(sandbox)
    permissions = [arg for permission in PERMISSIONS for arg in ("--permission", permission)]
    key = billing(sandbox, "apikey", "create", "--tenant", tenant_id, *permissions)
    account = billing(sandbox, "gateway", "add", "--tenant", tenant_id, "--gateway", "cash", "--config-json", "{}")
    return Credentials(api_key=key["key"], account_id=account["id"])


# ---------------------------------------------------------------- completed events


class CompletedEvents:
    """Listens on its own queue for `transaction.completed` and resolves one future per transaction id."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._connection: AbstractRobustConnection | None = None

    async def start(self, amqp_url: str) -> None:
        """Bind an exclusive queue to billing.events with routing key transaction.completed and consume it."""
        self._connection = await aio_pika.connect_robust(amqp_url)
        channel = await self._connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, COMPLETED_KEY)
        await queue.consume(self._on_event, no_ack=True)

    def expect(self, transaction_id: str) -> asyncio.Future[float]:
        """A future resolved with the perf_counter time at which the transaction's event arrives."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[transaction_id] = future
        return future

    def forget(self, transaction_id: str) -> None:
        """Stop waiting for a transaction."""
        self._waiting.pop(transaction_id, None)

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        """Resolve the waiting future of the event's subject; duplicates and strangers are ignored."""
        arrived = time.perf_counter()
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            future = self._waiting.pop(str(json.loads(message.body).get("subject")), None)
            if future is not None and not future.done():
                future.set_result(arrived)

    async def close(self) -> None:
        """Close the listening connection."""
        if self._connection is not None:
            await self._connection.close()


# ---------------------------------------------------------------- the load


@dataclass
class LoadStats(Window):
    """Completed payments and errors, split by whether they fall in the measured window."""

    latencies: list[float] = field(default_factory=list)
    cpu: list[cpu.CpuShare] = field(default_factory=list)

    def done(self, started: float, completed: float) -> None:
        """Count a payment whose completed event arrived inside the window."""
        if self.inside(completed):
            self.latencies.append(completed - started)


Answer = tuple[int, dict[str, Any]]


async def post(client: aiohttp.ClientSession, step: str, url: str, body: dict[str, Any], **kwargs: Any) -> Answer:
    """POST JSON, turning a transport error into a StepFailed named after the step."""
    try:
        async with client.post(url, json=body, **kwargs) as answer:
            return answer.status, await answer.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise StepFailed(f"{step}: {type(exc).__name__}") from exc


async def get(client: aiohttp.ClientSession, step: str, url: str, **params: str) -> dict[str, Any]:
    """GET expecting 200 and a JSON object, turning anything else into a StepFailed named after the step."""
    try:
        async with client.get(url, params=params) as answer:
            if answer.status != 200:
                raise StepFailed(f"{step}: HTTP {answer.status}")
            document: dict[str, Any] = await answer.json(content_type=None)
            return document
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise StepFailed(f"{step}: {type(exc).__name__}") from exc


async def create(client: aiohttp.ClientSession, account_id: str) -> str:
    """POST /v1/transactions?wait=true and return the new transaction id (201 expected)."""
    body = {"gateway": "cash", "account_id": account_id, "amount": AMOUNT, "currency": "UZS"}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    status, answer = await post(client, "create", "/v1/transactions?wait=true", body, headers=headers)
    if status == 202:
        raise StepFailed("create: 202 (wait timed out)")
    if status != 201:
        raise StepFailed(f"create: HTTP {status}")
    transaction_id: str = answer["id"]
    return transaction_id


async def complete(client: aiohttp.ClientSession, transaction_id: str) -> None:
    """POST /v1/transactions/{id}/complete (202 expected)."""
    status, _ = await post(client, "complete", f"/v1/transactions/{transaction_id}/complete", {})
    if status != 202:
        raise StepFailed(f"complete: HTTP {status}")


async def one_payment(client: aiohttp.ClientSession, events: CompletedEvents, account_id: str) -> float:
    """Create, complete and await the completed event of one cash payment; return the event's arrival."""
    transaction_id = await create(client, account_id)
    arrival = events.expect(transaction_id)
    try:
        await complete(client, transaction_id)
        return await asyncio.wait_for(arrival, EVENT_TIMEOUT_S)
    except TimeoutError as exc:
        raise StepFailed("event: no transaction.completed within 30 s") from exc
    finally:
        events.forget(transaction_id)


async def client_loop(
    client: aiohttp.ClientSession, events: CompletedEvents, account_id: str, stats: LoadStats
) -> None:
    """Pay again and again until the window closes."""
    while time.perf_counter() < stats.window_end:
        started = time.perf_counter()
        try:
            stats.done(started, await one_payment(client, events, account_id))
        except StepFailed as failure:
            stats.failed(started, failure.kind)


async def report_progress(stats: LoadStats, every_s: float = 5.0) -> None:
    """Print the running count of measured payments and errors to stderr."""
    while True:
        await asyncio.sleep(every_s)
        phase = "warm-up" if time.perf_counter() < stats.window_start else "measuring"
        errors = sum(stats.errors.values()) + sum(stats.warmup_errors.values())
        print(f"  {phase}: {len(stats.latencies)} payments counted, {errors} errors", file=sys.stderr)


def http_client(sandbox: Sandbox, credentials: Credentials, clients: int) -> aiohttp.ClientSession:
    """One HTTP/1.1 session with a keep-alive connection per load client (aiohttp: the client must cost
    far less CPU than the service it measures, on the same two cores)."""
    connector = aiohttp.TCPConnector(limit=clients + 8, keepalive_timeout=CLIENT_KEEPALIVE_S)
    return aiohttp.ClientSession(
        base_url=sandbox.base_url,
        connector=connector,
        headers={"Authorization": f"Bearer {credentials.api_key}"},
        timeout=aiohttp.ClientTimeout(total=30.0),
    )


async def drain(tasks: list[asyncio.Task[None]], window_end: float) -> None:
    """After the window, let in-flight payments finish (uncounted), cancelling stragglers."""
    await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def run_load(sandbox: Sandbox, credentials: Credentials, args: argparse.Namespace, service_pid: int) -> LoadStats:
    """Run the clients for the warm-up and the measured window and return what they counted."""
    events = CompletedEvents()
    await events.start(sandbox.amqp_url)
    now = time.perf_counter()
    stats = LoadStats(window_start=now + args.warmup, window_end=now + args.warmup + args.seconds)
    progress = asyncio.create_task(report_progress(stats))
    metered = asyncio.create_task(cpu.measure_window(service_pid, stats.window_start, stats.window_end))
    try:
        async with http_client(sandbox, credentials, args.clients) as client:
            loops = [
                asyncio.create_task(client_loop(client, events, credentials.account_id, stats))
                for _ in range(args.clients)
            ]
            await drain(loops, stats.window_end)
        before, after = await metered
        stats.cpu = cpu.shares(before, after, len(stats.latencies))
    finally:
        progress.cancel()
        metered.cancel()
        await events.close()
    return stats


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class LoadResult:
    """The measured payment figures."""

    seconds: float
    warmup_s: float
    clients: int
    completed: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    warmup_errors: dict[str, int]
    cpu: list[cpu.CpuShare]


def summarise(stats: LoadStats, args: argparse.Namespace) -> LoadResult:
    """Rate and latency percentiles of the measured window."""
    return LoadResult(
        seconds=args.seconds,
        warmup_s=args.warmup,
        clients=args.clients,
        completed=len(stats.latencies),
        per_second=len(stats.latencies) / args.seconds,
        p50_ms=percentile(stats.latencies, 0.50) * 1e3,
        p99_ms=percentile(stats.latencies, 0.99) * 1e3,
        errors=dict(stats.errors),
        warmup_errors=dict(stats.warmup_errors),
        cpu=stats.cpu,
    )


def print_load(result: LoadResult) -> None:
    """Print the payment figures."""
    print(
        f"\npayments  {result.per_second:8.1f} completed/s  ({result.completed} in {result.seconds:.0f} s, "
        f"{result.clients} clients)"
    )
    print(f"latency   p50 {result.p50_ms:.1f} ms   p99 {result.p99_ms:.1f} ms")
    print(f"errors    {sum(result.errors.values())}" + "".join(f"\n  {n:6d}  {k}" for k, n in result.errors.items()))
    if result.warmup_errors:
        print(f"  (and {sum(result.warmup_errors.values())} during the warm-up: {result.warmup_errors})")
    verdict = "met" if result.per_second >= TARGET_PER_S else "NOT met"
    print(f"target    >= {TARGET_PER_S:.0f} payments/s: {verdict}")
    if result.cpu:
        cpu.print_shares(f"{result.per_second:.0f} payments/s", result.cpu, "payment")


def share(rate: float, ceiling: Ceiling) -> float:
    """The payment rate as a fraction of a ceiling's rate."""
    return rate / ceiling.rate if ceiling.rate else 0.0


def print_ceilings(result: LoadResult, ceilings: list[Ceiling]) -> None:
    """Print each ceiling with the payment rate as a share of it."""
    print("\nceilings (raw drivers, same machine, service stopped)")
    for ceiling in ceilings:
        latency = "" if ceiling.p50_ms is None else f"  p50 {ceiling.p50_ms:.2f} ms  p99 {ceiling.p99_ms:.2f} ms"
        ratio = share(result.per_second, ceiling)
        spent = "" if ceiling.cpu_ms is None else f"  cpu {ceiling.cpu_ms:.3f} ms/op"
        print(
            f"  {ceiling.name:7s} {ceiling.rate:8.0f} {ceiling.unit:16s} payments/ceiling {ratio:.3f}{latency}{spent}"
        )
    print_floor(ceilings, PAYMENT_PARTS, "payment")
    room = budget(result, ceilings)
    if room is not None:
        print(f"\nbudget    {room.in_words()}")


def budget(result: LoadResult, ceilings: list[Ceiling]) -> cpu.Budget | None:
    """The budget of one payment at the target rate, from the floor and this window's CPU."""
    found = floor(ceilings, PAYMENT_PARTS)
    return None if found is None else cpu.Budget.of(TARGET_PER_S, found[0], result.cpu, "payment")


def results_document(result: LoadResult, ceilings: list[Ceiling], sandbox: Sandbox, stamp: str) -> dict[str, Any]:
    """Everything measured, as one JSON document."""
    return {
        "timestamp": stamp,
        "machine": machine(),
        "target_per_s": TARGET_PER_S,
        "target_met": result.per_second >= TARGET_PER_S,
        "payments": asdict(result),
        "ceilings": [ceiling.as_dict() | {"payments_ratio": share(result.per_second, ceiling)} for ceiling in ceilings],
        "service_log": str(sandbox.log_path),
    }


def markdown_table(result: LoadResult, ceilings: list[Ceiling], stamp: str) -> str:
    """A table fit for docs/performance.md."""
    errors = ", ".join(f"{k}: {n}" for k, n in result.errors.items()) or "none"
    rows = [
        f"Measured {stamp} on {os.cpu_count()} cores, {result.clients} clients, "
        f"{result.seconds:.0f} s after a {result.warmup_s:.0f} s warm-up (`python bench/payments.py`).",
        "",
        "| measure | value | payments/s as share of it |",
        "|---|---:|---:|",
        f"| cash payments completed (create `wait=true`, complete, event) | {result.per_second:,.0f} /s | |",
        f"| payment latency p50 / p99 (first POST to completed event) | "
        f"{result.p50_ms:,.0f} / {result.p99_ms:,.0f} ms | |",
        f"| errors | {errors} | |",
    ]
    for ceiling in ceilings:
        ratio = share(result.per_second, ceiling)
        spent = "" if ceiling.cpu_ms is None else f" ({ceiling.cpu_ms:.3f} ms CPU each)"
        rows.append(
            f"| ceiling `{ceiling.name}`: {ceiling.what} | {ceiling.rate:,.0f} {ceiling.unit}{spent} | {ratio:.3f} |"
        )
    found = floor(ceilings, PAYMENT_PARTS)
    if found is not None:
        rows.append(
            f"| floor: {made_of(PAYMENT_PARTS, '`')}, no application code | "
            f"{found[1]:,.0f} payments/s ({found[0]:.2f} ms CPU) | |"
        )
    room = budget(result, ceilings)
    if room is not None:
        rows += ["", f"Budget: {room.in_words()}"]
    if result.cpu:
        rows += cpu.markdown_rows("CPU during the window", result.cpu, "payment")
    return "\n".join(rows)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time (default 20)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted warm-up (default 3)")
    parser.add_argument("--ceiling-seconds", type=float, default=4.0, help="time per ceiling (default 4)")
    return parser.parse_args(argv)


def benchmark(sandbox: Sandbox, args: argparse.Namespace) -> None:
    """Load, ceilings, report."""
    with Session(sandbox) as session:
        session.start()
        credentials = provision(sandbox)
        print(f"load: {args.clients} clients, {args.warmup:.0f} s warm-up + {args.seconds:.0f} s", file=sys.stderr)
        assert session.service is not None
        result = summarise(asyncio.run(run_load(sandbox, credentials, args, session.service.pid)), args)
        session.stop()
        print_load(result)
        if result.errors or result.warmup_errors:
            print(f"\ntail of the service log ({sandbox.log_path}):\n{log_tail(sandbox.log_path)}")
        ceilings = asyncio.run(measure_all(sandbox.amqp_url, sandbox.dsn, args.ceiling_seconds))
        print_ceilings(result, ceilings)
        stamp = utc_stamp()
        path = write_results(results_document(result, ceilings, sandbox, stamp), stamp)
        print(f"\nresults written to {path}\n\n{markdown_table(result, ceilings, stamp)}")


def main() -> int:
    """Run the benchmark once in its own sandbox."""
    args = parse_args()
    return run(lambda sandbox: benchmark(sandbox, args))


if __name__ == "__main__":
    sys.exit(main())
