"""The parking queue, for an operator: look at parked messages and send them back."""

from __future__ import annotations

import json
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from shared.broker import connection as amqp
from shared.broker.consumer import ATTEMPT_HEADER, ORIGIN_HEADER, REASON_HEADER, ROUTING_KEY_HEADER
from shared.broker.publisher import ConfirmedPublisher
from shared.broker.topology import PARKING_QUEUE
from shared.messages import COMMANDS_EXCHANGE


def _routing_key(message: AbstractIncomingMessage) -> str:
    headers = message.headers or {}
    return str(headers.get(ROUTING_KEY_HEADER) or message.routing_key or "")


def describe(message: AbstractIncomingMessage) -> dict[str, Any]:
    headers = message.headers or {}
    deaths = headers.get("x-death")
    reason = headers.get(REASON_HEADER)
    if reason is None and isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        reason = f"rabbitmq: {deaths[0].get('reason')!s}"  # e.g. delivery_limit after repeated crashes
    try:
        body: Any = json.loads(message.body)
    except ValueError:
        body = message.body.decode(errors="replace")
    return {
        "message_id": message.message_id,
        "routing_key": _routing_key(message),
        "origin_queue": headers.get(ORIGIN_HEADER),
        "reason": None if reason is None else str(reason),
        "attempts": headers.get(ATTEMPT_HEADER),
        "body": body,
    }


async def _take_all(channel: aio_pika.abc.AbstractChannel, limit: int) -> list[AbstractIncomingMessage]:
    try:
        queue = await channel.declare_queue(PARKING_QUEUE, passive=True)
    except aio_pika.exceptions.ChannelNotFoundEntity:
        return []  # the service never declared its queues on this broker: nothing was ever parked
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return taken


def tenant_of(message: AbstractIncomingMessage) -> str | None:
    """The tenant a parked command belongs to (its body's `tenant_id`), if it can be read."""
    try:
        body = json.loads(message.body)
    except ValueError:
        return None
    tenant = body.get("tenant_id") if isinstance(body, dict) else None
    return str(tenant) if tenant is not None else None


async def list_parked(url: str, limit: int, tenant_id: str | None = None) -> list[dict[str, Any]]:
    """The parked messages (only one tenant's when `tenant_id` is given), left parked."""
    connection = await amqp.connect(url)
    try:
        channel = await connection.channel()
        taken = await _take_all(channel, limit)
        described = [describe(m) for m in taken if tenant_id is None or tenant_of(m) == tenant_id]
        for message in taken:
            await message.reject(requeue=True)
        return described
    finally:
        await connection.close()


async def replay(url: str, message_ids: set[str] | None, limit: int, tenant_id: str | None = None) -> list[str]:
    """Republish parked commands to billing.commands (all, or those with the given ids, or only one tenant's)."""
    publisher = ConfirmedPublisher(url)
    await publisher.start()
    connection = await amqp.connect(url)
    replayed: list[str] = []
    try:
        channel = await connection.channel()
        for message in await _take_all(channel, limit):
            others = tenant_id is not None and tenant_of(message) != tenant_id
            if others or (message_ids is not None and message.message_id not in message_ids):
                await message.reject(requeue=True)
                continue
            headers = {
                k: v
                for k, v in (message.headers or {}).items()
                if k not in {ATTEMPT_HEADER, REASON_HEADER, ORIGIN_HEADER, ROUTING_KEY_HEADER, "x-death"}
                and not k.startswith("x-first-death")
                and not k.startswith("x-last-death")
            }
            await publisher.publish(
                COMMANDS_EXCHANGE,
                _routing_key(message),
                message.body,
                message_id=message.message_id,
                headers=headers,
            )
            await message.ack()
            replayed.append(str(message.message_id))
        return replayed
    finally:
        await connection.close()
        await publisher.close()
