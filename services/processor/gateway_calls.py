"""Answers the gateways' synchronous calls inside the processor, which owns every write."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from pydantic import ValidationError

from shared import tracing
from shared.broker.rpc import RPC_QUEUE, GatewayCall, GatewayReply
from shared.broker.worker import raw_message
from shared.logs import LogContext

log = logging.getLogger(__name__)

CallHandler = Callable[[GatewayCall], Awaitable[Any]]


class GatewayCalls:
    """Routes a call to its gateway's handler; the handler returns the body the gateway expects."""

    def __init__(self, handlers: Mapping[str, CallHandler]) -> None:
        self._handlers = handlers

    async def answer(self, call: GatewayCall) -> GatewayReply:
        handler = self._handlers.get(call.gateway)
        if handler is None:
            return GatewayReply(ok=False, error=f"no synchronous handler for {call.gateway}")
        try:
            return GatewayReply(body=await handler(call))
        except Exception as exc:  # the gateway must get its "system error, retry" answer, not silence
            log.exception("gateway call failed", extra={"gateway": call.gateway, "operation": call.operation})
            return GatewayReply(ok=False, error=repr(exc))


def serve_calls(broker: RabbitBroker, calls: GatewayCalls) -> None:
    """Answer the gateways' synchronous calls; FastStream sends the returned bytes to `reply_to`."""

    @broker.subscriber(
        RabbitQueue(RPC_QUEUE, declare=False),
        ack_policy=AckPolicy.ACK_FIRST,  # a stale request is never redelivered: the gateway retries instead
        decoder=raw_message,
        title=RPC_QUEUE,
        description="Synchronous gateway calls: each gateway's webhook waiting for the processor's answer",
    )
    async def on_call(message: AbstractIncomingMessage) -> bytes:
        try:
            call = GatewayCall.model_validate_json(message.body)
        except ValidationError as exc:
            return (
                GatewayReply(ok=False, error=f"bad gateway call: {exc.errors()[0]['msg']}").model_dump_json().encode()
            )
        with (
            LogContext(tenant_id=call.tenant_id, account_id=call.account_id, gateway=call.gateway),
            tracing.span(
                f"{RPC_QUEUE} process",
                tracing.SpanKind.CONSUMER,
                parent=dict(message.headers or {}),
                attributes={
                    "messaging.system": "rabbitmq",
                    "billing.gateway": call.gateway,
                    "billing.operation": call.operation,
                },
            ),
        ):
            reply = await calls.answer(call)
        return reply.model_dump_json().encode()
