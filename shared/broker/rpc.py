"""Request-reply over RabbitMQ for gateways that wait for our answer in the same HTTP call (the gateway declares it).

One long-lived exclusive reply queue per client and a map of correlation ids to futures: FastStream's
`broker.request` serialises requests and reaches about a third of this rate (architecture.md).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, DeliveryError
from aiormq.exceptions import AMQPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import tracing
from shared.security.pan import mask_pans

RPC_QUEUE = "billing.processor.rpc"


class GatewayCall(BaseModel):
    """A gateway's synchronous call, already authenticated by the ingress."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway: str
    tenant_id: uuid.UUID
    account_id: uuid.UUID
    operation: str = Field(max_length=100)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _masked(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Verified by the ingress already; from here on (details, webhook_log, logs) card numbers are masked."""
        masked: dict[str, Any] = mask_pans(params)
        return masked


class GatewayReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool = True
    body: Any = None
    error: str | None = None


class RpcUnavailable(Exception):
    """No answer in time, or the request could not be sent: the gateway gets its "retry later" answer."""


class RpcClient:
    def __init__(self) -> None:
        self._channel: AbstractChannel | None = None
        self._reply_queue: AbstractQueue | None = None
        self._pending: dict[str, asyncio.Future[bytes]] = {}

    async def start(self, connection: AbstractRobustConnection) -> None:
        self._channel = await connection.channel(publisher_confirms=False)
        self._reply_queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await self._reply_queue.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(message.body)

    async def call(self, request: GatewayCall, timeout_s: float) -> GatewayReply:
        if self._channel is None or self._reply_queue is None or self._channel.is_closed:
            raise RpcUnavailable("no channel to RabbitMQ")
        with tracing.span(
            f"{RPC_QUEUE} call",
            tracing.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "billing.gateway": request.gateway,
                "billing.operation": request.operation,
            },
        ):
            return await self._call(request, timeout_s)

    async def _call(self, request: GatewayCall, timeout_s: float) -> GatewayReply:
        assert self._channel is not None and self._reply_queue is not None
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        headers: dict[str, Any] = {}
        tracing.inject(headers)
        message = aio_pika.Message(
            request.model_dump_json().encode(),
            content_type="application/json",
            correlation_id=correlation_id,
            reply_to=self._reply_queue.name,
            headers=headers,
            # A request nobody took in time must not run after the gateway was told to retry.
            expiration=timeout_s,
        )
        try:
            await self._channel.default_exchange.publish(message, routing_key=RPC_QUEUE, mandatory=True)
            body = await asyncio.wait_for(future, timeout_s)
        except (TimeoutError, DeliveryError, AMQPError, AMQPException, ConnectionError, RuntimeError) as exc:
            raise RpcUnavailable(f"no answer from the processor: {exc!r}") from exc
        finally:
            self._pending.pop(correlation_id, None)
        return GatewayReply.model_validate(json.loads(body))
