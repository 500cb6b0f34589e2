"""Runs a command consumer as a FastStream subscriber with explicit acknowledgement."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue

from shared.broker import connection as amqp
from shared.broker.consumer import CommandConsumer, Delivery
from shared.broker.topology import WorkQueue

log = logging.getLogger(__name__)


def build_broker(amqp_url: str, prefetch: int) -> RabbitBroker:
    return amqp.broker(
        amqp_url,
        default_channel=Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True),
        graceful_timeout=15.0,
        logger=None,
        # Handlers take the raw aio-pika message (see `raw_message`); FastStream's dependency injection would
        # resolve each message's context in a worker thread, a thread hop per message for nothing.
        apply_types=False,
    )


async def raw_message(message: Any) -> AbstractIncomingMessage:
    """The handler gets aio-pika's message and parses the body itself, so a body that is not JSON is parked
    with its reason, never stuck, and it settles the message itself."""
    raw: AbstractIncomingMessage = message.raw_message
    return raw


def subscribe(broker: RabbitBroker, work: WorkQueue, consumer: CommandConsumer, description: str) -> None:
    """Acknowledge only after the handler committed (or the message went to retry or parking)."""

    @broker.subscriber(
        RabbitQueue(work.name, declare=False),
        ack_policy=AckPolicy.MANUAL,
        no_reply=True,
        decoder=raw_message,
        title=work.name,
        description=description,
    )
    async def on_command(raw: AbstractIncomingMessage) -> None:
        delivery = Delivery(
            body=raw.body,
            routing_key=raw.routing_key or "",
            headers=dict(raw.headers or {}),
            message_id=raw.message_id,
        )
        try:
            await consumer.process(delivery)
        except Exception:
            log.exception("could not settle the message; it goes back to the queue")
            # reject (never nack) with requeue: RabbitMQ counts it toward x-delivery-limit on every version.
            await raw.reject(requeue=True)
            return
        await raw.ack()


async def run_until_signalled(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]], stopping: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await start()
    try:
        await stopping.wait()
    finally:
        await stop()
