"""Runs an event handler on a queue of its own bound to billing.events, acking only after it ran."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable
from functools import partial
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, ExchangeType

from shared.broker import connection as broker_connection

EVENTS_EXCHANGE = "billing.events"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PREFETCH = 32
RETRY_PAUSE_S = 1.0

Handler = Callable[[dict[str, Any]], bool]

log = logging.getLogger("examples.consumers")


async def consume(amqp_url: str, queue_name: str, handler: Handler, stop: asyncio.Event) -> None:
    """Feed every event to `handler` until `stop` is set; a message is acked only once the handler returned."""
    connection = await broker_connection.connect_robust(amqp_url)  # one URL, or a cluster's, comma-separated
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        # Declared here too (same arguments as billing's), so a consumer may start before billing does.
        events = await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)
        # Our own durable queue: events published while we are down wait for us instead of being lost.
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(events, "#")
        tag = await queue.consume(partial(_deliver, handler))
        await stop.wait()
        await queue.cancel(tag)
    finally:
        # Unacked deliveries go back to the queue; the handler dedupes them when they come again.
        await connection.close()


async def _deliver(handler: Handler, message: AbstractIncomingMessage) -> None:
    try:
        event = json.loads(message.body)
        if not isinstance(event, dict):
            raise ValueError("the body is not a JSON object")
        # A duplicate returns False and is acked all the same: it has been applied before.
        handler(event)
    except ValueError as exc:  # JSONDecodeError included
        # Redelivering a malformed event can never succeed; drop it loudly rather than loop on it.
        log.error("dropping malformed message %s: %s", message.message_id, exc)
        await message.reject(requeue=False)
        return
    except Exception:
        log.exception("handler failed on message %s; requeued", message.message_id)
        # A pause, so that a handler failing on every delivery does not spin the CPU.
        await asyncio.sleep(RETRY_PAUSE_S)
        # reject, not nack: only reject counts towards a quorum queue's delivery limit on newer brokers.
        await message.reject(requeue=True)
        return
    await message.ack()


def run(queue_name: str, handler: Handler, state: Callable[[], object]) -> None:
    """The entry point of an example: consume from BILLING_AMQP_URL until SIGINT/SIGTERM, logging `state()`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    def logged(event: dict[str, Any]) -> bool:
        fresh = handler(event)
        if fresh:
            log.info("applied %s %s; state %s", event.get("type"), event.get("id"), json.dumps(state()))
        else:
            log.info("duplicate %s %s ignored", event.get("type"), event.get("id"))
        return fresh

    asyncio.run(_until_signalled(os.environ.get("BILLING_AMQP_URL", DEFAULT_AMQP_URL), queue_name, logged))


async def _until_signalled(amqp_url: str, queue_name: str, handler: Handler) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("consuming billing.events on queue %s (Ctrl-C stops)", queue_name)
    await consume(amqp_url, queue_name, handler, stop)
