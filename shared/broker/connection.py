"""Connections to one RabbitMQ node or to any node of a cluster: BILLING_AMQP_URL may list several, comma-separated.

A process starts on a random node of the list (replicas spread over the cluster) and, when its node is lost,
reconnects to the next one; aio-pika's robust connection then restores its channels, queues and consumers there.
"""

from __future__ import annotations

import random
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractRobustConnection, UnderlayConnection
from aio_pika.robust_connection import RobustConnection
from faststream.rabbit import RabbitBroker
from yarl import URL

RECONNECT_INTERVAL_S = 1.0
"""Between attempts; every attempt after a loss goes to the next node, so a live one is found within seconds."""
CONNECT_TIMEOUT_S = 10.0


def split_urls(value: str) -> list[str]:
    """The nodes of BILLING_AMQP_URL, in order, without blanks."""
    return [part.strip() for part in value.split(",") if part.strip()]


class FailoverConnection(RobustConnection):
    """A robust connection that moves to the next URL of `urls` on every new connection attempt."""

    urls: tuple[URL, ...] = ()

    def __init__(self, url: URL, loop: Any = None, **kwargs: Any) -> None:
        super().__init__(url, loop, **kwargs)
        # The first attempt goes to the URL given; each later one to the next in the list.
        self._attempt = self.urls.index(self.url) - 1 if self.url in self.urls else -1

    # aio-pika resets `transport` right before each attempt to (re)connect, and again on close: the one hook
    # that runs on every attempt, including failed ones, so the next node is tried after a node refused too.
    @property
    def transport(self) -> UnderlayConnection | None:
        current: UnderlayConnection | None = self.__dict__.get("_transport")
        return current

    @transport.setter
    def transport(self, value: UnderlayConnection | None) -> None:
        if value is None and self.urls and "_attempt" in self.__dict__:
            self._attempt += 1
            self.url = self.urls[self._attempt % len(self.urls)]
        self.__dict__["_transport"] = value


def failover_class(urls: list[str]) -> type[FailoverConnection]:
    return type("FailoverConnection", (FailoverConnection,), {"urls": tuple(URL(url) for url in urls)})


def _rotation(urls: list[str]) -> list[str]:
    """The URLs starting from a random one: replicas spread their connections over the nodes."""
    start = random.randrange(len(urls))
    return urls[start:] + urls[:start]


async def connect_robust(amqp_url: str, **kwargs: Any) -> AbstractRobustConnection:
    """A connection that survives the loss of its node; the first reachable node of the list is taken."""
    urls = split_urls(amqp_url)
    if len(urls) == 1:
        single: AbstractRobustConnection = await aio_pika.connect_robust(
            urls[0], reconnect_interval=RECONNECT_INTERVAL_S, **kwargs
        )
        return single
    failure: Exception | None = None
    for url in _rotation(urls):
        try:
            robust: AbstractRobustConnection = await aio_pika.connect_robust(
                url,
                connection_class=failover_class(urls),
                reconnect_interval=RECONNECT_INTERVAL_S,
                timeout=CONNECT_TIMEOUT_S,
                **kwargs,
            )
            return robust
        except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
            failure = exc
    assert failure is not None
    raise failure


async def connect(amqp_url: str) -> AbstractConnection:
    """A plain connection to the first reachable node (for short jobs: declaring, listing, replaying)."""
    failure: Exception | None = None
    for url in _rotation(split_urls(amqp_url)):
        try:
            return await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_S)
        except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
            failure = exc
    assert failure is not None
    raise failure


def broker(amqp_url: str, **kwargs: Any) -> RabbitBroker:
    """A FastStream broker on the same failover: it starts on a random node and moves on when it is lost."""
    urls = _rotation(split_urls(amqp_url))
    built = RabbitBroker(urls[0], reconnect_interval=RECONNECT_INTERVAL_S, **kwargs)
    if len(urls) > 1:
        # FastStream passes these to aio-pika's connect_robust; it has no parameter for the connection class.
        built._connection_kwargs["connection_class"] = failover_class(urls)
        built._connection_kwargs["fail_fast"] = False  # the first node may be the lost one: try the others
    return built
