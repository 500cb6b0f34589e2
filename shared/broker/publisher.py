"""Persistent, confirmed, mandatory publishing over one long-lived aio-pika channel."""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection, DeliveryMode
from aio_pika.exceptions import AMQPError, DeliveryError
from aiormq.exceptions import AMQPException
from pamqp.commands import Basic

from shared import metrics, tracing
from shared.broker import connection as amqp

PUBLISH_TIMEOUT_S = 5.0


class BrokerUnavailable(Exception):
    """RabbitMQ did not confirm the message: the caller must not report success."""


class ConfirmedPublisher:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None

    async def start(self) -> None:
        self._connection = await amqp.connect_robust(self._url)
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    @property
    def healthy(self) -> bool:
        """True while the connection and the confirm channel are open (False during a reconnect)."""
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    @property
    def connection(self) -> AbstractRobustConnection:
        assert self._connection is not None, "start() the publisher first"
        return self._connection

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
        content_type: str = "application/json",
        correlation_id: str | None = None,
        reply_to: str | None = None,
    ) -> None:
        labels = (metrics.exchange_label(exchange), routing_key)
        with tracing.span(
            f"{labels[0]} publish",
            tracing.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": labels[0],
                "messaging.rabbitmq.destination.routing_key": routing_key,
            },
        ):
            headers = dict(headers or {})
            tracing.inject(headers)
            try:
                await self._publish(
                    exchange, routing_key, body, message_id, headers, mandatory, content_type, correlation_id, reply_to
                )
            except BrokerUnavailable:
                metrics.PUBLISH_FAILURES.labels(*labels).inc()
                raise
        metrics.MESSAGES_PUBLISHED.labels(*labels).inc()

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        message_id: str | None,
        headers: dict[str, Any],
        mandatory: bool,
        content_type: str,
        correlation_id: str | None,
        reply_to: str | None,
    ) -> None:
        if self._channel is None or self._channel.is_closed:
            raise BrokerUnavailable("no open channel to RabbitMQ")
        message = aio_pika.Message(
            body,
            delivery_mode=DeliveryMode.PERSISTENT,
            content_type=content_type,
            message_id=message_id,
            headers=headers,
            correlation_id=correlation_id,
            reply_to=reply_to,
        )
        try:
            target = (
                self._channel.default_exchange
                if exchange == ""
                else await self._channel.get_exchange(exchange, ensure=False)
            )
            confirmation = await target.publish(
                message, routing_key=routing_key, mandatory=mandatory, timeout=PUBLISH_TIMEOUT_S
            )
        except DeliveryError as exc:
            raise BrokerUnavailable(f"RabbitMQ could not route the message: {exc}") from exc
        except (TimeoutError, AMQPError, AMQPException, ConnectionError, RuntimeError) as exc:
            raise BrokerUnavailable(f"RabbitMQ did not confirm the message: {exc!r}") from exc
        if not isinstance(confirmation, Basic.Ack):
            raise BrokerUnavailable(f"RabbitMQ refused the message: {confirmation!r}")
