"""Lets a request wait for the processor: resolved by the events the outbox relay publishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from shared.messages import EVENTS_EXCHANGE

Predicate = Callable[[dict[str, Any]], bool]
# A waiting create ends when the transaction exists, gets its provider link, or ends without either.
WAITED_FOR = (
    "transaction.created",
    "transaction.updated",
    "transaction.completed",
    "transaction.failed",
    "transaction.canceled",
    "transaction.expired",
)


class Waiters:
    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[Predicate, asyncio.Future[dict[str, Any]]]]] = {}

    async def start(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=500)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in WAITED_FOR:
            await queue.bind(exchange, key)
        await queue.consume(self._on_event, no_ack=True)

    def expect(self, transaction_id: uuid.UUID, predicate: Predicate) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(str(transaction_id), []).append((predicate, future))
        return future

    def forget(self, transaction_id: uuid.UUID, future: asyncio.Future[dict[str, Any]]) -> None:
        entries = self._waiting.get(str(transaction_id), [])
        entries[:] = [entry for entry in entries if entry[1] is not future]
        if not entries:
            self._waiting.pop(str(transaction_id), None)

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        subject_header = (message.headers or {}).get("subject")
        if subject_header is not None and str(subject_header) not in self._waiting:
            return  # nobody here waits for it: skip parsing (every ingress sees every event)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            event = json.loads(message.body)
            subject = event["subject"]
            if subject not in self._waiting:
                return
            data = event["data"]
            for predicate, future in list(self._waiting.get(subject, [])):
                if not future.done() and predicate(data):
                    future.set_result(data)

    async def wait(
        self, transaction_id: uuid.UUID, future: asyncio.Future[dict[str, Any]], within_s: float
    ) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(asyncio.shield(future), within_s)
        except TimeoutError:
            return None
        finally:
            self.forget(transaction_id, future)


__all__ = ["Waiters", "aio_pika"]
