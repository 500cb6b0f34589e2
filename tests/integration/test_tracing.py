"""One payment is one trace: HTTP request -> command publish -> worker -> PostgreSQL -> outbox -> event.

The ingress app and the processor run in this process on a database and vhost of their own, with the real
broker in between; spans go to the SDK's in-memory exporter, and the event carries the trace in its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.ingress.app import create_app
from services.processor.app import bootstrap
from shared import tracing
from shared.broker import topology
from shared.messages import EVENTS_EXCHANGE
from shared.persistence.database import create_engine
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_database, drop_vhost, new_database, new_vhost
from tests.support.world import TenantWorld, make_tenant


@dataclass
class Traced:
    settings: Settings
    spans: InMemorySpanExporter
    tenant: TenantWorld
    client: httpx.AsyncClient
    events: asyncio.Queue[AbstractIncomingMessage]


@pytest.fixture
async def traced(servers: Servers, settings: Settings) -> AsyncIterator[Traced]:
    database_url = await asyncio.to_thread(new_database, servers)
    amqp_url = await asyncio.to_thread(new_vhost, servers)
    own = settings.model_copy(update={"database_url": database_url, "amqp_url": amqp_url})
    spans = InMemorySpanExporter()
    tracing.configure("off", "test", exporter=spans)
    engine = create_engine(database_url, pool_size=2)
    connection = await aio_pika.connect(amqp_url)
    processor = bootstrap(own)
    stop = asyncio.Event()
    try:
        tenant = await make_tenant(engine, Cipher(own.secret_key or ""))
        await topology.declare(amqp_url, own.retry_delay_ms)
        events: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(EVENTS_EXCHANGE, "transaction.created")
        await queue.consume(events.put, no_ack=True)
        await processor.publisher.start()
        await processor.broker.start()
        relay = asyncio.create_task(processor.relay.run(stop))
        app = create_app(own)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingress") as client,
        ):
            yield Traced(own, spans, tenant, client, events)
        stop.set()
        await relay
    finally:
        with contextlib.suppress(Exception):
            await processor.broker.stop()
        await processor.publisher.close()
        await connection.close()
        await engine.dispose()
        tracing.reset()
        await asyncio.to_thread(drop_vhost, amqp_url)
        await asyncio.to_thread(drop_database, database_url)


def trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def one(spans: list[ReadableSpan], kind: SpanKind, name: str) -> ReadableSpan:
    found = [s for s in spans if s.kind == kind and s.name == name]
    assert len(found) == 1, f"{kind} {name}: {[(s.kind, s.name) for s in spans]}"
    return found[0]


async def test_one_payment_is_one_trace_across_the_broker_and_the_database(traced: Traced) -> None:
    body = {"gateway": "cash", "account_id": str(traced.tenant.accounts["cash"]), "amount": 1500, "currency": "UZS"}
    response = await traced.client.post(
        "/v1/transactions?wait=true", json=body, headers={**traced.tenant.auth, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 201, response.text
    event = await asyncio.wait_for(traced.events.get(), 15)
    assert event.headers is not None and event.routing_key == "transaction.created"

    server = next(s for s in traced.spans.get_finished_spans() if s.kind == SpanKind.SERVER)
    trace_id = trace_of(server)
    headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in (event.headers or {}).items()}
    assert headers["traceparent"].split("-")[1] == trace_id, "the event carries the request's trace"

    await asyncio.sleep(0.2)  # the relay's span ends just after the publish it wraps
    spans = [s for s in traced.spans.get_finished_spans() if trace_of(s) == trace_id]
    command = one(spans, SpanKind.PRODUCER, "billing.commands publish")
    consume = one(spans, SpanKind.CONSUMER, "billing.processor process")
    assert consume.parent is not None and command.context is not None
    assert consume.parent.span_id == command.context.span_id and consume.parent.is_remote
    assert consume.attributes is not None and consume.attributes["billing.outcome"] == "done"
    statements = [str((s.attributes or {}).get("db.statement", "")) for s in spans if s.kind == SpanKind.CLIENT]
    assert any(q.startswith("INSERT INTO transactions") for q in statements), statements
    relay = one(spans, SpanKind.INTERNAL, "outbox relay")
    published = [s for s in spans if s.kind == SpanKind.PRODUCER and s.name == "billing.events publish"]
    assert relay.context is not None and published
    assert all(s.parent is not None and s.parent.span_id == relay.context.span_id for s in published)
