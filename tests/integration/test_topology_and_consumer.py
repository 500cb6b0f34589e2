"""The declared topology and the command consumer's retry and parking, in a vhost no worker consumes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aiormq.exceptions import ChannelPreconditionFailed
from pydantic import BaseModel

from shared.broker.consumer import (
    ATTEMPT_HEADER,
    ORIGIN_HEADER,
    REASON_HEADER,
    ROUTING_KEY_HEADER,
    CommandConsumer,
    Delivery,
    DeliveryOutcome,
)
from shared.broker.publisher import BrokerUnavailable, ConfirmedPublisher
from shared.broker.topology import (
    PARKING_QUEUE,
    PROCESSOR,
    REFUNDS,
    WORK_QUEUES,
    WorkQueue,
    declare,
    quorum_arguments,
)
from shared.domain.errors import NotFound, TransitionNotAllowed
from shared.messages import COMMANDS_EXCHANGE, CompleteTransactionMessage
from tests.integration.conftest import Broker

MAX_ATTEMPTS = 3
INSPECTED = (PARKING_QUEUE, *(w.name for w in WORK_QUEUES), *(w.delay_queue for w in WORK_QUEUES))


class CountingPublisher(ConfirmedPublisher):
    """The real publisher, remembering where each message went."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.sent: list[tuple[str, str]] = []

    async def publish(self, exchange: str, routing_key: str, body: bytes, **kwargs: Any) -> None:
        await super().publish(exchange, routing_key, body, **kwargs)
        self.sent.append((exchange, routing_key))


@pytest.fixture(scope="module")
async def connection(broker: Broker) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(broker.url)
    yield connection
    await connection.close()


@pytest.fixture
async def channel(connection: AbstractRobustConnection) -> AsyncIterator[AbstractChannel]:
    """A channel with every queue this module inspects emptied first."""
    channel = await connection.channel()
    for name in INSPECTED:
        await (await channel.get_queue(name, ensure=True)).purge()
    yield channel
    await channel.close()


@pytest.fixture
async def publisher(broker: Broker) -> AsyncIterator[CountingPublisher]:
    publisher = CountingPublisher(broker.url)
    await publisher.start()
    yield publisher
    await publisher.close()


async def next_message(channel: AbstractChannel, queue: str, timeout: float = 5.0) -> AbstractIncomingMessage:
    source = await channel.get_queue(queue, ensure=False)
    deadline = time.monotonic() + timeout
    while (message := await source.get(no_ack=True, fail=False)) is None:
        assert time.monotonic() < deadline, f"nothing arrived on {queue}"
        await asyncio.sleep(0.02)
    return message


async def is_empty(channel: AbstractChannel, queue: str) -> bool:
    return await (await channel.get_queue(queue, ensure=False)).get(no_ack=True, fail=False) is None


def delivery_of(message: AbstractIncomingMessage) -> Delivery:
    """What the worker hands the consumer for a message it received (see shared/broker/worker.py)."""
    return Delivery(message.body, message.routing_key or "", dict(message.headers), message.message_id)


def complete_body(**overrides: Any) -> bytes:
    payload = {"command_id": str(uuid.uuid4()), "tenant_id": str(uuid.uuid4()), "transaction_id": str(uuid.uuid4())}
    return json.dumps({**payload, **overrides}).encode()


def consumer_raising(publisher: ConfirmedPublisher, error: Exception) -> CommandConsumer:
    async def handler(_: BaseModel) -> None:
        raise error

    routes = {"transaction.complete": (CompleteTransactionMessage, handler)}
    return CommandConsumer(publisher, PROCESSOR, routes, MAX_ATTEMPTS)


async def test_declare_twice_is_idempotent_and_queues_are_quorum(broker: Broker, channel: AbstractChannel) -> None:
    await declare(broker.url, broker.retry_delay_ms)
    await declare(broker.url, broker.retry_delay_ms)

    for work in WORK_QUEUES:  # redeclaring with the same arguments is accepted...
        await channel.declare_queue(work.name, durable=True, arguments=quorum_arguments())
    probing = await aio_pika.connect(broker.url)
    try:
        expected = {PROCESSOR.name: quorum_arguments(), REFUNDS.name: quorum_arguments(), PARKING_QUEUE: {}}
        for name, arguments in expected.items():
            probe = await probing.channel()  # ...and the same one as a classic queue is refused
            with pytest.raises(ChannelPreconditionFailed, match="inequivalent arg 'x-queue-type'"):
                await probe.declare_queue(name, durable=True, arguments={**arguments, "x-queue-type": "classic"})
    finally:
        await probing.close()


@pytest.mark.parametrize("work", WORK_QUEUES, ids=lambda w: w.name)
async def test_work_queues_are_bound_to_their_routing_keys(
    work: WorkQueue, channel: AbstractChannel, publisher: CountingPublisher
) -> None:
    for key in work.routing_keys:
        await publisher.publish(COMMANDS_EXCHANGE, key, b"{}", message_id=key)
        message = await next_message(channel, work.name)
        assert (message.routing_key, message.message_id) == (key, key)
    others = [q.name for q in WORK_QUEUES if q is not work]
    assert all([await is_empty(channel, name) for name in others])
    with pytest.raises(BrokerUnavailable, match="route"):
        await publisher.publish(COMMANDS_EXCHANGE, "no.such.command", b"{}")


@pytest.mark.parametrize("error", [RuntimeError("database down"), NotFound("not created yet")], ids=repr)
async def test_failure_goes_through_the_delay_queue_and_is_parked_at_max_attempts(
    error: Exception, broker: Broker, channel: AbstractChannel, publisher: CountingPublisher
) -> None:
    consumer = consumer_raising(publisher, error)
    body = complete_body()
    delivery = Delivery(body, "transaction.complete", {}, "cmd-1")

    for attempt in range(1, MAX_ATTEMPTS):
        published_at = time.monotonic()
        assert await consumer.process(delivery) == DeliveryOutcome.RETRY
        assert publisher.sent[-1] == ("", PROCESSOR.delay_queue)
        message = await next_message(channel, PROCESSOR.name)  # back on the work queue after the TTL
        assert time.monotonic() - published_at >= broker.retry_delay_ms / 1000 * 0.9
        assert message.headers[ATTEMPT_HEADER] == attempt + 1
        assert message.headers[ROUTING_KEY_HEADER] == "transaction.complete"
        deaths: Any = message.headers["x-death"]
        assert (deaths[0]["queue"], deaths[0]["reason"]) == (PROCESSOR.delay_queue, "expired")
        assert (message.body, message.message_id) == (body, "cmd-1")
        delivery = delivery_of(message)

    assert await consumer.process(delivery) == DeliveryOutcome.PARKED
    parked = await next_message(channel, PARKING_QUEUE)
    assert str(parked.headers[REASON_HEADER]).startswith(f"gave up after {MAX_ATTEMPTS} attempts")
    assert parked.headers[ORIGIN_HEADER] == PROCESSOR.name
    assert parked.headers[ROUTING_KEY_HEADER] == "transaction.complete"
    assert (parked.body, parked.message_id) == (body, "cmd-1")
    assert await is_empty(channel, PROCESSOR.delay_queue)


@pytest.mark.parametrize(
    ("route", "body", "reason"),
    [
        ("transaction.complete", b"{not json", "invalid message: body is not JSON"),
        ("transaction.complete", complete_body(transaction_id="nope"), "invalid message: transaction_id"),
        ("transaction.complete", complete_body(surprise=1), "invalid message: surprise"),
        ("transaction.explode", complete_body(), "invalid message: no handler for routing key"),
    ],
    ids=["not-json", "bad-field", "extra-field", "unknown-route"],
)
async def test_invalid_messages_are_parked_at_once(
    route: str, body: bytes, reason: str, channel: AbstractChannel, publisher: CountingPublisher
) -> None:
    consumer = consumer_raising(publisher, AssertionError("the handler must not run"))

    assert await consumer.process(Delivery(body, route, {}, "bad-1")) == DeliveryOutcome.PARKED

    assert publisher.sent == [("", PARKING_QUEUE)]
    parked = await next_message(channel, PARKING_QUEUE)
    assert str(parked.headers[REASON_HEADER]).startswith(reason)
    assert parked.headers[ROUTING_KEY_HEADER] == route
    assert parked.body == body


async def test_a_domain_error_is_a_refusal_and_publishes_nothing(
    channel: AbstractChannel, publisher: CountingPublisher
) -> None:
    consumer = consumer_raising(publisher, TransitionNotAllowed("already canceled"))

    assert (
        await consumer.process(Delivery(complete_body(), "transaction.complete", {}, "m-1")) == DeliveryOutcome.REJECTED
    )

    assert publisher.sent == []
    assert await is_empty(channel, PARKING_QUEUE)
    assert await is_empty(channel, PROCESSOR.delay_queue)
