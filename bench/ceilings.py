"""Raw-driver ceilings of this machine: what the payment path could reach with nothing but the drivers.

Four measurements, each for a few seconds:
  rpc     - request-reply through RabbitMQ (aio-pika, one long-lived reply queue, correlation id -> future)
  pubsub  - persistent publish with a confirm per message, consumed and acked on a second connection
  pg_tx   - one asyncpg transaction (insert + update of one row) over a pool of 16 connections
  http    - a JSON POST answered by a bare ASGI app on uvicorn (httptools), aiohttp keep-alive callers

Each also records the machine's CPU per operation (all processes, both sides, the brokers), so that a
floor can be put together: what the raw parts of one payment cost with no application code at all; and
this process's own part of it, the drivers' Python with nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import aio_pika
import asyncpg
import cpu
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

RPC_BODY = b'{"method":"CheckPerformTransaction","params":{"amount":150000}}'
PUBSUB_BODY = b"x" * 300
SCRATCH_TABLE = "bench_ceiling_tx"


@dataclass(frozen=True)
class Ceiling:
    """One measured ceiling: a rate and, where it has one, the latency of a single operation."""

    name: str
    what: str
    unit: str
    rate: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_ms: float | None = None
    """The machine's CPU per operation while measuring (every process: callers, servers, brokers, kernel)."""
    own_cpu_ms: float | None = None
    """This process's share of it: the drivers' own Python (both ends of rpc, pubsub and http; pg_tx's client)."""

    def as_dict(self) -> dict[str, Any]:
        """The ceiling as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def timed(cls, name: str, what: str, unit: str, latencies: list[float], elapsed: float) -> Ceiling:
        """A ceiling measured by its operations' latencies over `elapsed` seconds."""
        return cls(
            name=name,
            what=what,
            unit=unit,
            rate=len(latencies) / elapsed,
            p50_ms=percentile(latencies, 0.50) * 1e3,
            p99_ms=percentile(latencies, 0.99) * 1e3,
        )


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of the samples (0 when there are none)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def run_callers(callers: int, seconds: float, once: Callable[[], Awaitable[None]]) -> float:
    """Run `once` in a loop on `callers` concurrent tasks for `seconds`; return the elapsed time."""
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < stop:
            await once()

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(callers)))
    return time.perf_counter() - started


async def start_echo_server(connection: AbstractRobustConnection, queue_name: str) -> None:
    """Consume requests on `queue_name` and answer each to its reply_to with its correlation id."""
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=256)
    queue = await channel.declare_queue(queue_name, exclusive=True, auto_delete=True)

    async def answer(message: AbstractIncomingMessage) -> None:
        async with message.process():
            reply = aio_pika.Message(message.body, correlation_id=message.correlation_id)
            await channel.default_exchange.publish(reply, routing_key=message.reply_to or "")

    await queue.consume(answer)


async def open_reply_queue(channel: AbstractChannel, pending: dict[str, asyncio.Future[None]]) -> AbstractQueue:
    """Declare the one long-lived reply queue and resolve waiting callers by correlation id."""
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)

    async def on_reply(message: AbstractIncomingMessage) -> None:
        future = pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(None)

    await queue.consume(on_reply, no_ack=True)
    return queue


async def rpc_ceiling(amqp_url: str, seconds: float, callers: int = 64) -> Ceiling:
    """Request-reply round trips per second through RabbitMQ with a correlation-id -> future map."""
    server = await aio_pika.connect_robust(amqp_url)
    client = await aio_pika.connect_robust(amqp_url)
    try:
        request_queue = f"bench.ceiling.rpc.{uuid.uuid4().hex[:8]}"
        await start_echo_server(server, request_queue)
        channel = await client.channel()
        pending: dict[str, asyncio.Future[None]] = {}
        reply_queue = await open_reply_queue(channel, pending)
        latencies: list[float] = []

        async def round_trip() -> None:
            correlation_id = uuid.uuid4().hex
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            pending[correlation_id] = future
            started = time.perf_counter()
            request = aio_pika.Message(RPC_BODY, correlation_id=correlation_id, reply_to=reply_queue.name)
            await channel.default_exchange.publish(request, routing_key=request_queue)
            await future
            latencies.append(time.perf_counter() - started)

        elapsed = await run_callers(callers, seconds, round_trip)
    finally:
        await client.close()
        await server.close()
    return Ceiling.timed(
        "rpc", f"aio-pika request-reply, one reply queue, {callers} callers", "round trips/s", latencies, elapsed
    )


class AckCounter:
    """Consumes a queue on its own connection, acking and counting every message."""

    def __init__(self) -> None:
        self.count = 0
        self._target: int | None = None
        self._reached = asyncio.Event()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """Ack one message and count it."""
        await message.ack()
        self.count += 1
        self._check()

    def _check(self) -> None:
        """Wake the waiter once the target count is reached."""
        if self._target is not None and self.count >= self._target:
            self._reached.set()

    async def wait_for(self, target: int, timeout_s: float) -> None:
        """Wait until `target` messages have been acked, or at most `timeout_s`."""
        self._target = target
        self._check()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reached.wait(), timeout_s)


async def pubsub_ceiling(amqp_url: str, seconds: float, publishers: int = 64) -> Ceiling:
    """Persistent messages per second, each publish confirmed, consumed and acked by a second connection."""
    producer = await aio_pika.connect_robust(amqp_url)
    consumer = await aio_pika.connect_robust(amqp_url)
    queue_name = f"bench.ceiling.pubsub.{uuid.uuid4().hex[:8]}"
    try:
        publish_channel = await producer.channel(publisher_confirms=True)
        queue = await publish_channel.declare_queue(queue_name, durable=True)
        consume_channel = await consumer.channel()
        await consume_channel.set_qos(prefetch_count=512)
        counter = AckCounter()
        consume_queue = await consume_channel.get_queue(queue_name)
        consumer_tag = await consume_queue.consume(counter.on_message)
        sent = 0

        async def publish_one() -> None:
            nonlocal sent
            message = aio_pika.Message(PUBSUB_BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await publish_channel.default_exchange.publish(message, routing_key=queue_name)
            sent += 1

        started = time.perf_counter()
        await run_callers(publishers, seconds, publish_one)
        await counter.wait_for(sent, seconds * 2)
        elapsed = time.perf_counter() - started
        await consume_queue.cancel(consumer_tag)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await producer.close()
        await consumer.close()
    return Ceiling(
        name="pubsub",
        what=f"confirmed persistent publish ({publishers} publishers), consumed and acked",
        unit="messages/s",
        rate=counter.count / elapsed,
    )


async def pg_tx_ceiling(dsn: str, seconds: float, connections: int = 16, callers: int = 64) -> Ceiling:
    """asyncpg transactions per second, each an insert and an update of one row on a scratch table."""
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        await pool.execute(
            f"DROP TABLE IF EXISTS {SCRATCH_TABLE};"
            f"CREATE TABLE {SCRATCH_TABLE} (id uuid PRIMARY KEY, status text NOT NULL,"
            " body jsonb NOT NULL, updated_at timestamptz NOT NULL)"
        )
        latencies: list[float] = []

        async def one_transaction() -> None:
            row_id = uuid.uuid4()
            started = time.perf_counter()
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    f"INSERT INTO {SCRATCH_TABLE} VALUES ($1, 'pending', '{{\"amount\": 150000}}', now())",
                    row_id,
                )
                await connection.execute(
                    f"UPDATE {SCRATCH_TABLE} SET status = 'completed', updated_at = now() WHERE id = $1",
                    row_id,
                )
            latencies.append(time.perf_counter() - started)

        elapsed = await run_callers(callers, seconds, one_transaction)
        await pool.execute(f"DROP TABLE {SCRATCH_TABLE}")
    finally:
        await pool.close()
    return Ceiling.timed(
        "pg_tx", f"asyncpg transaction insert+update, {connections} connections", "transactions/s", latencies, elapsed
    )


HTTP_BODY = b'{"id":"00000000-0000-0000-0000-000000000000","status":"accepted"}'


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: read the request body, answer a small JSON document."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(HTTP_BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": HTTP_BODY})


async def http_ceiling(seconds: float, callers: int = 64) -> Ceiling:
    """JSON POSTs per second to a bare ASGI app on uvicorn (httptools), from aiohttp keep-alive callers."""
    import aiohttp
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(echo_app, host="127.0.0.1", port=port, http="httptools", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(200):  # uvicorn starts in well under a second
        if server.started:
            break
        await asyncio.sleep(0.05)
    latencies: list[float] = []
    try:
        connector = aiohttp.TCPConnector(limit=callers)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as client:

            async def one_request() -> None:
                started = time.perf_counter()
                async with client.post("/v1/transactions", data=RPC_BODY) as answer:
                    await answer.read()
                latencies.append(time.perf_counter() - started)

            elapsed = await run_callers(callers, seconds, one_request)
    finally:
        server.should_exit = True
        await serving
    return Ceiling.timed(
        "http",
        f"JSON POST to a bare ASGI app on uvicorn (httptools), {callers} aiohttp callers",
        "requests/s",
        latencies,
        elapsed,
    )


async def with_cpu(measure: Awaitable[Ceiling]) -> Ceiling:
    """Run one ceiling and add the machine's CPU milliseconds per operation spent while it ran."""
    before, own_before = cpu.machine_busy(), _own_cpu_s()
    ceiling = await measure
    busy_s, elapsed_s = cpu.machine_busy_since(before)
    own_s = _own_cpu_s() - own_before
    operations = ceiling.rate * elapsed_s
    if not operations:
        return ceiling
    return replace(ceiling, cpu_ms=busy_s * 1000 / operations, own_cpu_ms=own_s * 1000 / operations)


def _own_cpu_s() -> float:
    """CPU seconds this process (every thread) has spent."""
    times = os.times()
    return times.user + times.system


async def measure_all(amqp_url: str, dsn: str, seconds: float) -> list[Ceiling]:
    """Measure every ceiling in turn, each for `seconds`."""
    return [
        await with_cpu(rpc_ceiling(amqp_url, seconds)),
        await with_cpu(pubsub_ceiling(amqp_url, seconds)),
        await with_cpu(pg_tx_ceiling(dsn, seconds)),
        await with_cpu(http_ceiling(seconds)),
    ]


def floor(ceilings: list[Ceiling], parts: dict[str, float]) -> tuple[float, float] | None:
    """The CPU ms of a unit of work made of `parts` (ceiling name -> how many), and the rate that leaves.

    The rate is what the machine's cores could do if the unit cost only those raw operations: an upper bound
    for any implementation with this shape on this machine (it assumes perfect use of every core).
    """
    by_name = {c.name: c.cpu_ms for c in ceilings}
    if any(by_name.get(name) is None for name in parts):
        return None
    spent = sum((by_name[name] or 0.0) * count for name, count in parts.items())
    return spent, (os.cpu_count() or 1) * 1000 / spent


def made_of(parts: dict[str, float], quote: str = "") -> str:
    """`parts` in words: "1 x rpc + 0.667 x pubsub"."""
    return " + ".join(f"{count:.3g} x {quote}{name}{quote}" for name, count in parts.items())


def print_floor(ceilings: list[Ceiling], parts: dict[str, float], unit: str) -> float | None:
    """Print the floor of a unit of work made of `parts` and return the rate it leaves (None if unmeasured)."""
    found = floor(ceilings, parts)
    if found is None:
        return None
    spent, rate = found
    print(
        f"\nfloor     one {unit} = {made_of(parts)} = {spent:.2f} ms of the machine's CPU (each ceiling's CPU per op)"
    )
    print(f"          at most {rate:,.0f} {unit}s/s on {os.cpu_count()} cores with no application code at all")
    return rate
