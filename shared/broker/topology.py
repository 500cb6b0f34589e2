"""The RabbitMQ topology, declared at every start (idempotent): exchanges, work, delay and parking queues."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractChannel, ExchangeType

from shared.broker import connection as amqp
from shared.broker.rpc import RPC_QUEUE
from shared.messages import (
    COMMANDS_EXCHANGE,
    EVENTS_EXCHANGE,
    GATEWAY_COMMANDS,
    PROCESSOR_COMMANDS,
    REFUNDS_COMMANDS,
)

DEAD_LETTER_EXCHANGE = "billing.dlx"
PARKING_QUEUE = "billing.parking"
DELIVERY_LIMIT = 4
"""Redeliveries after a crash (no ack) before RabbitMQ parks the message itself."""


@dataclass(frozen=True, slots=True)
class WorkQueue:
    name: str
    routing_keys: tuple[str, ...]

    @property
    def delay_queue(self) -> str:
        return f"{self.name}.delay"


PROCESSOR = WorkQueue("billing.processor", (*(m.routing_key for m in PROCESSOR_COMMANDS), GATEWAY_COMMANDS))
REFUNDS = WorkQueue("billing.refunds", tuple(m.routing_key for m in REFUNDS_COMMANDS))
WORK_QUEUES = (PROCESSOR, REFUNDS)
WEBHOOKS_QUEUE = "billing.webhooks"
"""The webhooks worker's queue of the events some merchant endpoint wants: declared with the rest, so no such event
waits for the worker's first start."""
WEBHOOKS_ROUTING_KEY = "webhooks"
"""The one key `billing.webhooks` is bound by: the relay adds it (as a `CC` header) to an event an enabled endpoint
of its tenant wants, so the events of the many tenants without one never enter that queue. No event's own routing
key is a single word, so no consumer's binding of events' keys matches it by accident (`#` matches it, and
RabbitMQ routes a message to each queue once)."""


def quorum_arguments() -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_topology(channel: AbstractChannel, retry_delay_ms: int) -> None:
    commands = await channel.declare_exchange(COMMANDS_EXCHANGE, ExchangeType.TOPIC, durable=True)
    events = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
    dead_letters = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.TOPIC, durable=True)
    # Gateway calls are answered within seconds or not at all (requests carry a TTL), but the queue itself must
    # outlive the loss of a node: a classic queue is gone with its node, and every processor's consumer with it.
    await channel.declare_queue(RPC_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    parking = await channel.declare_queue(PARKING_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    await parking.bind(dead_letters, "#")
    webhooks = await channel.declare_queue(WEBHOOKS_QUEUE, durable=True, arguments=quorum_arguments())
    await webhooks.bind(events, WEBHOOKS_ROUTING_KEY)
    # Before the relay chose the events for it, the queue took every event (`#`); a topology declared then loses
    # that binding here (unbinding one that is not there changes nothing).
    await webhooks.unbind(events, "#")
    for work in WORK_QUEUES:
        queue = await channel.declare_queue(work.name, durable=True, arguments=quorum_arguments())
        for key in work.routing_keys:
            await queue.bind(commands, key)
        await channel.declare_queue(
            work.delay_queue,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": retry_delay_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": work.name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )


async def declare(url: str, retry_delay_ms: int) -> None:
    connection = await amqp.connect(url)
    try:
        await declare_topology(await connection.channel(), retry_delay_ms)
    finally:
        await connection.close()
