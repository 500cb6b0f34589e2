"""Merchant webhooks benchmark: signed deliveries per second from `billing webhooks` to a local receiver.

1. The `http` ceiling (bench/ceilings.py: JSON POSTs to a bare ASGI app) on the idle machine, the most a
   single-process HTTP exchange on this machine does.
2. `billing up` (BILLING_WEBHOOKS_ALLOW_PRIVATE=true, so http://127.0.0.1 may be an endpoint); a tenant, an
   API key and --endpoints endpoints (events ["*"]) on one receiver in this process (aiohttp, 200 to every
   POST; one delivery in 50 has its signature verified with `standardwebhooks`).
3. Load: CloudEvents published straight to billing.events with confirms, as the outbox relay publishes them,
   keeping at most --backlog deliveries outstanding; each event makes one delivery per endpoint. The worker
   consumes them, records the deliveries in PostgreSQL, leases them and POSTs them.
4. Counted, once the worker consumes its queue: deliveries arriving at the receiver in the window after the
   warm-up, and the CPU each process group spent per delivery (bench/cpu.py), the worker's own line included.

    python bench/webhooks.py [--seconds 15] [--warmup 3] [--endpoints 8] [--backlog 2000] [--ceiling-seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import cpu
import httpx
from aiohttp import web
from ceilings import Ceiling, http_ceiling, with_cpu
from sandbox import Sandbox, Session, billing, create_tenant, free_port, machine, run, utc_stamp, write_results
from standardwebhooks import Webhook

EVENTS_EXCHANGE = "billing.events"
WEBHOOKS_QUEUE = "billing.webhooks"
VERIFY_EVERY = 50


@dataclass
class Receiver:
    """Counts every delivery with its arrival time; verifies a sample of the signatures."""

    secrets: dict[str, str] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)
    verified: int = 0
    forged: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrivals.append(time.perf_counter())
        if len(self.arrivals) % VERIFY_EVERY == 0:
            secret = self.secrets[request.match_info["endpoint"]]
            try:
                Webhook(secret).verify(body, dict(request.headers))
                self.verified += 1
            except Exception:
                self.forged += 1
        return web.Response(status=200, text="ok")

    def between(self, start: float, end: float) -> int:
        return sum(1 for at in self.arrivals if start <= at < end)


def event_body(tenant_id: str, event_id: str) -> bytes:
    transaction_id = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "billing",
            "type": "billing.transaction.completed",
            "time": now,
            "subject": transaction_id,
            "tenantid": tenant_id,
            "datacontenttype": "application/json",
            "data": {
                "id": transaction_id,
                "tenant_id": tenant_id,
                "gateway": "cash",
                "status": "completed",
                "amount": 150000,
                "refunded_amount": 0,
                "currency": "UZS",
                "details": {},
                "metadata": {"project_id": "bench"},
                "created_at": now,
                "updated_at": now,
            },
        }
    ).encode()


async def publish_load(
    amqp_url: str, tenant_id: str, receiver: Receiver, endpoints: int, backlog: int, until: float
) -> int:
    """Publish events while fewer than `backlog` deliveries are outstanding; the number of events published."""
    connection = await aio_pika.connect(amqp_url)
    published = 0
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=True)
        while time.perf_counter() < until:
            room = (backlog - (published * endpoints - len(receiver.arrivals))) // endpoints
            if room <= 0:
                await asyncio.sleep(0.01)
                continue
            batch = min(room, 100)
            messages = []
            for _ in range(batch):
                event_id = str(uuid.uuid4())
                messages.append(
                    exchange.publish(
                        aio_pika.Message(
                            event_body(tenant_id, event_id),
                            message_id=event_id,
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key="transaction.completed",
                    )
                )
            await asyncio.gather(*messages)
            published += batch
    finally:
        await connection.close()
    return published


async def worker_ready(amqp_url: str, patience_s: float = 180.0) -> None:
    """Wait until `billing webhooks` consumes its queue: on a busy machine its start alone takes many seconds,
    which must not fall into the measured window (nor its import's CPU into the CPU per delivery)."""
    deadline = time.perf_counter() + patience_s
    connection = await aio_pika.connect(amqp_url)
    try:
        while time.perf_counter() < deadline:
            channel = await connection.channel()
            queue = await channel.declare_queue(WEBHOOKS_QUEUE, passive=True)
            consumers = queue.declaration_result.consumer_count
            await channel.close()
            if consumers:
                return
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    raise RuntimeError(f"no consumer on {WEBHOOKS_QUEUE} after {patience_s:.0f} s")


async def add_endpoints(sandbox: Sandbox, key: str, receiver_url: str, count: int, receiver: Receiver) -> None:
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=30) as http:
        for number in range(count):
            answer = await http.post(
                "/v1/webhook-endpoints",
                json={"url": f"{receiver_url}/{number}", "events": ["*"]},
                headers={"Authorization": f"Bearer {key}"},
            )
            answer.raise_for_status()
            receiver.secrets[str(number)] = answer.json()["secret"]


async def measure(sandbox: Sandbox, session: Session, args: argparse.Namespace) -> dict[str, Any]:
    tenant_id = create_tenant(sandbox)
    key = billing(sandbox, "apikey", "create", "--tenant", tenant_id, "--permission", "billing.gateways.manage")["key"]
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{endpoint}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await add_endpoints(sandbox, key, f"http://127.0.0.1:{port}/hooks", args.endpoints, receiver)
        await worker_ready(sandbox.amqp_url)
        start = time.perf_counter()
        window_start = start + args.warmup
        window_end = window_start + args.seconds
        assert session.service is not None
        metered = asyncio.create_task(cpu.measure_window(session.service.pid, window_start, window_end))
        events = await publish_load(sandbox.amqp_url, tenant_id, receiver, args.endpoints, args.backlog, window_end)
        before, after = await metered
        delivered = receiver.between(window_start, window_end)
        shares = cpu.shares(before, after, delivered)
        await asyncio.sleep(2)  # let the backlog drain a little, so the service stops quietly
    finally:
        await runner.cleanup()
    return {
        "deliveries_per_s": delivered / args.seconds,
        "events_per_s": delivered / args.seconds / args.endpoints,
        "delivered_in_window": delivered,
        "events_published": events,
        "signatures_verified": receiver.verified,
        "signatures_refused": receiver.forged,
        "cpu": [share.as_dict() for share in shares],
        "_shares": shares,
    }


def report(ceiling: Ceiling, result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    shares: list[cpu.CpuShare] = result.pop("_shares")
    worker = next((s for s in shares if s.group == "billing webhooks"), None)
    print(f"\nhttp ceiling: {ceiling.rate:,.0f} requests/s ({ceiling.cpu_ms or 0:.3f} CPU ms each, whole machine)")
    print(
        f"webhooks:     {result['deliveries_per_s']:,.0f} deliveries/s to {args.endpoints} endpoints "
        f"({result['events_per_s']:,.0f} events/s), {result['deliveries_per_s'] / ceiling.rate:.0%} of the ceiling"
    )
    if worker is not None:
        print(f"worker CPU:   {worker.ms_per_unit:.2f} ms per delivery ({worker.cores:.2f} cores)")
    print(f"signatures:   {result['signatures_verified']} verified, {result['signatures_refused']} refused")
    cpu.print_shares(f"{result['deliveries_per_s']:.0f} deliveries/s", shares, "delivery")
    rows = [
        "| measure | value |",
        "|---|---:|",
        f"| `http` ceiling | {ceiling.rate:,.0f} requests/s |",
        f"| webhooks delivered ({args.endpoints} endpoints) | {result['deliveries_per_s']:,.0f} deliveries/s |",
        f"| share of the ceiling | {result['deliveries_per_s'] / ceiling.rate:.0%} |",
    ]
    if worker is not None:
        rows.append(f"| webhooks worker CPU | {worker.ms_per_unit:.2f} ms per delivery |")
    rows += cpu.markdown_rows("CPU while delivering", shares, "delivery")
    print("\n" + "\n".join(rows))
    return rows


def benchmark(sandbox: Sandbox, args: argparse.Namespace) -> None:
    with Session(sandbox) as session:
        ceiling = asyncio.run(with_cpu(http_ceiling(args.ceiling_seconds)))
        session.start()
        result = asyncio.run(measure(sandbox, session, args))
        session.stop()
    rows = report(ceiling, result, args)
    path = write_results(
        {"benchmark": "webhooks", "machine": machine(), "args": vars(args), "http_ceiling": ceiling.as_dict(),
         **result, "markdown": rows},
        f"webhooks-{utc_stamp()}",
    )  # fmt: skip
    print(f"\nresults: {path}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--endpoints", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--ceiling-seconds", type=float, default=3.0)
    args = parser.parse_args()
    os.environ["BILLING_WEBHOOKS_ALLOW_PRIVATE"] = "true"  # the receiver is on 127.0.0.1
    return run(lambda sandbox: benchmark(sandbox, args))


if __name__ == "__main__":
    sys.exit(main())
