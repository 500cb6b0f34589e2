"""What every route needs, created once in the app's lifespan."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress.problems import Problem
from shared import logs
from shared.broker.publisher import BrokerUnavailable, ConfirmedPublisher
from shared.broker.rpc import RpcClient
from shared.gateways.registry import GatewayRegistry
from shared.messages import COMMANDS_EXCHANGE, REQUEST_ID_HEADER, CommandMessage
from shared.persistence import replica
from shared.persistence.idempotency import IdempotencyStore
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from shared.settings import Settings

if TYPE_CHECKING:
    from services.ingress.account_cache import AccountCache
    from services.ingress.auth import KeyCache
    from services.ingress.rate_limit import TokenBuckets
    from services.ingress.waiters import Waiters

T = TypeVar("T")


@dataclass
class Ingress:
    settings: Settings
    engine: AsyncEngine
    publisher: ConfirmedPublisher
    registry: GatewayRegistry
    cipher: Cipher
    idempotency: IdempotencyStore
    keys: KeyCache
    buckets: TokenBuckets
    accounts: AccountCache
    waiters: Waiters
    rpc: RpcClient
    replica: AsyncEngine | None = None
    """BILLING_DATABASE_READ_URL's engine, when set."""

    def reader(self) -> UnitOfWork:
        """A unit of work that only reads, on the primary (never the replica): a gateway's read method must see
        every change the processor committed before it answered the gateway's previous call."""
        return UnitOfWork(self.engine, self.cipher, read_only=True)

    async def read(self, query: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """A read-only query that may see data a little behind the primary: on the replica when there is one."""
        return await replica.read(self.engine, self.replica, query)

    async def send(self, message: CommandMessage, command_id: str) -> None:
        """Hand a command to RabbitMQ under its type's routing key; only a confirmed message counts as accepted."""
        body = json.dumps(message.model_dump(mode="json")).encode()
        request_id = logs.bound("request_id")
        headers = {REQUEST_ID_HEADER: request_id} if request_id else None  # the workers log it with the command
        try:
            await self.publisher.publish(
                COMMANDS_EXCHANGE, message.routing_key, body, message_id=command_id, headers=headers
            )
        except BrokerUnavailable as exc:
            raise Problem(
                503, "broker_unavailable", "the command could not be handed to the broker; retry later"
            ) from exc


async def ingress(request: Request) -> Ingress:
    ctx: Ingress = request.app.state.ingress
    return ctx
