"""The outbox relay on a database and vhost of its own (e2e workers run a relay on the session database)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, DeliveryMode
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.broker.publisher import BrokerUnavailable, ConfirmedPublisher
from shared.broker.relay import OutboxRelay
from shared.broker.topology import WEBHOOKS_QUEUE, WEBHOOKS_ROUTING_KEY, declare
from shared.clock import utc_now
from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.domain.webhooks import new_secret
from shared.messages import EVENTS_EXCHANGE
from shared.persistence.database import create_engine, raw_dsn
from shared.persistence.outbox import OutboxStore
from shared.persistence.tables import outbox
from shared.persistence.unit_of_work import UnitOfWork
from shared.persistence.webhooks import WebhookEndpoints
from shared.security.cipher import Cipher
from tests.conftest import Servers, drop_database, new_database
from tests.integration.conftest import Broker
from tests.support.world import TenantWorld, make_tenant


@dataclass(frozen=True)
class Outbox:
    url: str
    engine: AsyncEngine
    tenant: TenantWorld
    cipher: Cipher

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.cipher)

    def relay(self, publisher: ConfirmedPublisher, batch: int = 200) -> OutboxRelay:
        return OutboxRelay(self.engine, publisher, raw_dsn(self.url), batch=batch)


@pytest.fixture(scope="module")
async def store(servers: Servers, cipher: Cipher) -> AsyncIterator[Outbox]:
    url = await asyncio.to_thread(new_database, servers)
    engine = create_engine(url, pool_size=4)
    yield Outbox(url, engine, await make_tenant(engine, cipher), cipher)
    await engine.dispose()
    await asyncio.to_thread(drop_database, url)


@pytest.fixture
async def relay(store: Outbox, broker: Broker) -> OutboxRelay:
    """The module's relay, with whatever earlier tests left unsent already drained."""
    relay = store.relay(broker.publisher)
    await drain(relay)
    return relay


@pytest.fixture
async def events(broker: Broker) -> AsyncIterator[AbstractQueue]:
    """An exclusive queue receiving everything on billing.events."""
    connection = await aio_pika.connect(broker.url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(EVENTS_EXCHANGE, "#")
    yield queue
    await connection.close()


async def drain(relay: OutboxRelay) -> int:
    total = 0
    while sent := await relay.drain_once():
        total += sent
    return total


async def transaction_with_events(store: Outbox, updates: int = 1) -> uuid.UUID:
    """One committed transaction with `updates + 2` events: created, updated..., completed."""
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=store.tenant.tenant_id,
        account_id=store.tenant.accounts["cash"],
        gateway="cash",
        money=Money.of(5_000, "UZS"),
        details={},
        metadata={},
        at=utc_now(),
    )
    for step in range(updates):
        tx.update(utc_now(), details={"step": step})
    tx.complete(utc_now())
    async with store.uow() as uow:
        uow.transactions(store.tenant.tenant_id).add(tx)
        await uow.commit(actor="tests", request_id=None)
    return tx.id


async def outbox_rows(store: Outbox, subjects: list[uuid.UUID]) -> list[Any]:
    query = select(outbox).where(outbox.c.body["subject"].astext.in_([str(s) for s in subjects])).order_by(outbox.c.id)
    async with store.engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())


async def receive(queue: AbstractQueue, expected: int, timeout: float = 10.0) -> list[AbstractIncomingMessage]:
    """Everything in the queue once at least `expected` messages arrived (duplicates included)."""
    received: list[AbstractIncomingMessage] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            received.append(message)
        elif len(received) >= expected or asyncio.get_running_loop().time() > deadline:
            return received
        else:
            await asyncio.sleep(0.05)


async def test_drain_publishes_every_unsent_row_and_marks_it_sent(
    store: Outbox, relay: OutboxRelay, events: AbstractQueue
) -> None:
    subjects = [await transaction_with_events(store) for _ in range(2)]
    rows = await outbox_rows(store, subjects)
    assert len(rows) == 6 and all(row["sent_at"] is None for row in rows)

    assert await relay.drain_once() == 6
    assert await relay.drain_once() == 0

    by_id = {message.message_id: message for message in await receive(events, 6)}
    assert set(by_id) == {str(row["event_id"]) for row in rows}
    for row in rows:
        message = by_id[str(row["event_id"])]
        assert message.exchange == EVENTS_EXCHANGE
        assert message.routing_key == row["routing_key"]
        assert message.delivery_mode == DeliveryMode.PERSISTENT
        assert message.content_type == "application/cloudevents+json"
        assert json.loads(message.body) == row["body"]
        assert message.headers["tenantid"] == str(store.tenant.tenant_id)
    assert all(row["sent_at"] is not None for row in await outbox_rows(store, subjects))


async def test_events_of_one_transaction_arrive_in_order(
    store: Outbox, broker: Broker, relay: OutboxRelay, events: AbstractQueue
) -> None:
    subjects = [await transaction_with_events(store, updates=6) for _ in range(3)]
    rows = await outbox_rows(store, subjects)

    assert await drain(store.relay(broker.publisher, batch=4)) == len(rows) == 24

    received = await receive(events, len(rows))
    for subject in subjects:
        sent = [str(row["event_id"]) for row in rows if row["body"]["subject"] == str(subject)]
        arrived = [m.message_id for m in received if json.loads(m.body)["subject"] == str(subject)]
        assert arrived == sent


async def test_two_relays_never_publish_a_row_twice(
    store: Outbox, broker: Broker, relay: OutboxRelay, events: AbstractQueue
) -> None:
    subjects = [await transaction_with_events(store) for _ in range(20)]
    rows = await outbox_rows(store, subjects)
    second = ConfirmedPublisher(broker.url)
    await second.start()
    try:
        relays = [store.relay(broker.publisher, batch=7), store.relay(second, batch=7)]
        sent = await asyncio.gather(*(drain(r) for r in relays))
    finally:
        await second.close()

    assert sum(sent) == len(rows) == 60
    counts = Counter(message.message_id for message in await receive(events, len(rows)))
    assert counts == Counter(str(row["event_id"]) for row in rows)
    assert all(row["sent_at"] is not None for row in await outbox_rows(store, subjects))


async def test_a_row_whose_publish_fails_stays_unsent(
    store: Outbox, broker: Broker, relay: OutboxRelay, events: AbstractQueue
) -> None:
    subjects = [await transaction_with_events(store)]
    broken = ConfirmedPublisher(broker.url)
    await broken.start()
    await broken.close()

    with pytest.raises(BrokerUnavailable):
        await store.relay(broken).drain_once()

    rows = await outbox_rows(store, subjects)
    assert len(rows) == 3 and all(row["sent_at"] is None for row in rows)
    assert await receive(events, 0, timeout=0) == []
    assert await drain(relay) == 3  # a healthy relay sends it later
    assert {m.message_id for m in await receive(events, 3)} == {str(row["event_id"]) for row in rows}


@pytest.mark.parametrize("where", ["nothing listening", "a database that is not there"])
async def test_the_relay_outlives_a_database_it_cannot_use(
    servers: Servers, broker: Broker, unused_tcp_port: int, where: str
) -> None:
    """Connection refused, or PostgreSQL's own refusal, is logged and retried; the relay's loop never dies of it."""
    if where == "nothing listening":
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{unused_tcp_port}/billing"
    else:
        url = f"{servers.pg_server}/missing_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url, pool_size=1)
    try:
        relay = OutboxRelay(engine, broker.publisher, raw_dsn(url))
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(1.5)  # one failed drain and its one-second pause
        assert not running.done(), "the relay stopped on a database error"
        stop.set()
        await asyncio.wait_for(running, 5)
    finally:
        await engine.dispose()


async def test_a_relay_leaves_alone_a_transaction_whose_events_another_relay_holds(
    store: Outbox, relay: OutboxRelay, events: AbstractQueue
) -> None:
    held, free = await transaction_with_events(store, updates=2), await transaction_with_events(store)
    rows = await outbox_rows(store, [held])
    async with OutboxStore(store.engine).unsent(1) as other_replica:
        # Another replica claimed the held transaction's first event and is still publishing it.
        [first] = other_replica.events
        assert first.id == rows[0]["id"]
        assert await relay.drain_once() == len(await outbox_rows(store, [free])), "only the other transaction"
        sent = await outbox_rows(store, [held])
        assert all(row["sent_at"] is None for row in sent), "none of the held transaction's later events"
    # That replica died before marking anything sent: its events are all still there, and go out in order.
    assert await drain(relay) == len(rows) == 4
    arrived = [m.message_id for m in await receive(events, 7) if json.loads(m.body)["subject"] == str(held)]
    assert arrived == [str(row["event_id"]) for row in rows]


async def test_the_relay_listens_again_after_postgresql_dropped_its_connection(
    store: Outbox, broker: Broker, relay: OutboxRelay
) -> None:
    listening = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%billing_outbox%'"
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    admin = await asyncpg.connect(raw_dsn(store.url))
    try:
        first = await _eventually(admin, listening, lambda pids: len(pids) == 1)
        await admin.execute("SELECT pg_terminate_backend($1)", first[0])
        again = await _eventually(admin, listening, lambda pids: len(pids) == 1 and pids != first)
        assert again != first
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
        await admin.close()


async def _eventually(admin: asyncpg.Connection, query: str, done: Callable[[list[int]], bool]) -> list[int]:
    for _ in range(100):
        pids = [row["pid"] for row in await admin.fetch(query)]
        if done(pids):
            return pids
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within 10 s: {query}")


# ---------------------------------------------------------------- the webhooks worker's share


@pytest.fixture
async def webhooks_queue(broker: Broker) -> AsyncIterator[AbstractQueue]:
    """billing.webhooks as the topology declared it in the module's vhost, emptied before the test."""
    connection = await aio_pika.connect(broker.url)
    channel = await connection.channel()
    queue = await channel.get_queue(WEBHOOKS_QUEUE, ensure=True)
    await queue.purge()
    yield queue
    await connection.close()


async def add_endpoint(store: Outbox, tenant: TenantWorld, events: list[str]) -> uuid.UUID:
    endpoints = WebhookEndpoints(store.engine, store.cipher, tenant.tenant_id)
    return (await endpoints.add("https://merchant.example/hook", events, None, new_secret())).id


async def test_only_events_an_enabled_endpoint_wants_reach_the_webhooks_queue_and_every_event_reaches_consumers(
    store: Outbox, relay: OutboxRelay, events: AbstractQueue, webhooks_queue: AbstractQueue
) -> None:
    """Three events a payment (created, updated, completed); the tenant's endpoint wants `transaction.completed`,
    so only that one goes to the webhooks worker. Other tenants: one whose endpoint is disabled, one with an
    endpoint for another event type, one with none: nothing of theirs. Consumers get all twelve, each once, with
    the routing key they bind to."""
    wanting, disabled, other_type, without = [await make_tenant(store.engine, store.cipher) for _ in range(4)]
    await add_endpoint(store, wanting, ["transaction.completed"])
    switched_off = await add_endpoint(store, disabled, ["*"])
    await WebhookEndpoints(store.engine, store.cipher, disabled.tenant_id).update(switched_off, {"enabled": False})
    await add_endpoint(store, other_type, ["refund.succeeded"])
    paid = {}
    for world in (wanting, disabled, other_type, without):
        paid[world.tenant_id] = await transaction_with_events(replace(store, tenant=world))

    assert await drain(relay) == 12

    everything = await receive(events, 12)
    assert len(everything) == 12 and len({m.message_id for m in everything}) == 12, "each event once to a '#' queue"
    kinds = {"transaction.created", "transaction.updated", "transaction.completed"}
    assert {m.routing_key for m in everything} == kinds
    for_webhooks = await receive(webhooks_queue, 1, timeout=2.0)
    assert [(m.routing_key, json.loads(m.body)["subject"]) for m in for_webhooks] == [
        ("transaction.completed", str(paid[wanting.tenant_id]))
    ]


async def test_an_endpoint_committed_just_before_a_payment_gets_its_events(
    store: Outbox, relay: OutboxRelay, webhooks_queue: AbstractQueue
) -> None:
    """No cache between the two: the relay reads the endpoints in the snapshot it claims the events in."""
    for _ in range(5):
        world = await make_tenant(store.engine, store.cipher)
        await add_endpoint(store, world, ["*"])
        await transaction_with_events(replace(store, tenant=world))
        assert await drain(relay) == 3
        assert len(await receive(webhooks_queue, 3, timeout=5.0)) == 3


async def test_a_topology_declared_before_the_relay_chose_loses_its_every_event_binding(
    broker: Broker, webhooks_queue: AbstractQueue
) -> None:
    """Earlier versions bound billing.webhooks to `#`; declaring today's topology over it takes that away."""
    connection = await aio_pika.connect(broker.url)
    try:
        channel = await connection.channel()
        await webhooks_queue.bind(EVENTS_EXCHANGE, "#")
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(aio_pika.Message(b"{}"), "transaction.created")
        assert len(await receive(webhooks_queue, 1, timeout=5.0)) == 1, "the old binding took every event"

        await declare(broker.url, broker.retry_delay_ms)
        await exchange.publish(aio_pika.Message(b"{}"), "transaction.created")
        await exchange.publish(aio_pika.Message(b"{}", headers={"CC": [WEBHOOKS_ROUTING_KEY]}), "transaction.created")
        assert len(await receive(webhooks_queue, 2, timeout=2.0)) == 1, "only the event the relay chose"
    finally:
        await connection.close()


async def test_an_event_whose_tenant_is_not_a_uuid_goes_out_and_holds_up_nothing(
    store: Outbox, relay: OutboxRelay, events: AbstractQueue, webhooks_queue: AbstractQueue
) -> None:
    """Only our CloudEvents write the outbox, but a row written by hand must not fail every later claim."""
    await add_endpoint(store, store.tenant, ["*"])
    event_id = uuid.uuid4()
    odd = {"id": str(event_id), "subject": str(uuid.uuid4()), "tenantid": "not-a-uuid", "data": {}}
    async with store.engine.begin() as conn:
        await conn.execute(outbox.insert().values(event_id=event_id, routing_key="x.y", body=odd))
    after_it = await transaction_with_events(store)

    assert await drain(relay) == 4

    assert str(event_id) in {m.message_id for m in await receive(events, 4)}
    for_webhooks = await receive(webhooks_queue, 3, timeout=5.0)
    assert {json.loads(m.body)["subject"] for m in for_webhooks} == {str(after_it)}, "the next events still choose"
