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
"""The webhooks worker's own queue of every event: declared with the rest, so no event waits for its first start."""


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
    await webhooks.bind(events, "#")
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
