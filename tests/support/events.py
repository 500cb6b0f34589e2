"""Listens on billing.events like a consumer would, and lets a test wait for a given event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection


@dataclass
class Received:
    routing_key: str
    message_id: str | None
    body: dict[str, Any]


@dataclass
class EventLog:
    received: list[Received] = field(default_factory=list)
    _connection: AbstractRobustConnection | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, amqp_url: str) -> None:
        self._connection = await aio_pika.connect_robust(amqp_url)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange("billing.events", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "#")
        await queue.consume(self._on_message)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.received.append(Received(message.routing_key or "", message.message_id, json.loads(message.body)))
            self._arrived.set()

    def of(self, subject: str, kind: str | None = None) -> list[Received]:
        return [
            r for r in self.received if r.body.get("subject") == subject and (kind is None or r.routing_key == kind)
        ]

    async def wait_for(self, subject: str, kind: str, timeout: float = 15.0) -> Received:
        deadline = time.monotonic() + timeout
        while True:
            found = self.of(subject, kind)
            if found:
                return found[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [r.routing_key for r in self.of(subject)]
                raise AssertionError(f"no {kind} event for {subject} within {timeout}s; saw {seen}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))
