"""What a gateway's webhook routes get from the ingress: its accounts, the broker, the processor's answers."""

from __future__ import annotations

import uuid
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import logs
from shared.broker.rpc import RpcClient
from shared.gateways.base import GatewayAccount
from shared.messages import CommandMessage
from shared.persistence.port import UnitOfWorkPort
from shared.problem import Problem
from shared.settings import Settings


class WebhookAccounts(Protocol):
    async def named(self, gateway: str, account_id: uuid.UUID) -> GatewayAccount | None:
        """The live account a webhook URL names (any tenant's: the account tells the tenant), or None."""
        ...

    def clear(self) -> None:
        """Forget cached accounts (a gateway call changed one)."""
        ...


class IngressHost(Protocol):
    """The ingress as a webhook route sees it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def accounts(self) -> WebhookAccounts: ...

    @property
    def rpc(self) -> RpcClient: ...

    def reader(self) -> UnitOfWorkPort:
        """A unit of work that only reads, on the primary: it sees every change committed before it starts."""
        ...

    async def send(self, message: CommandMessage, command_id: str) -> None:
        """Hand a command to RabbitMQ under its type's routing key; a 503 Problem unless the broker confirmed it."""
        ...


async def ingress_host(request: Request) -> IngressHost:
    """FastAPI dependency: the ingress the app's lifespan created."""
    host: IngressHost = request.app.state.ingress
    return host


Host = Annotated[IngressHost, Depends(ingress_host)]
"""A route's parameter `host: Host` is the ingress."""


def unauthenticated() -> Problem:
    """One answer for an unknown account and a bad signature alike: a caller cannot tell which accounts exist."""
    return Problem(
        401, "unauthenticated", "the call is not signed by a gateway account this URL names", show_instance=False
    )


async def gateway_account(host: IngressHost, gateway: str, account_id: uuid.UUID) -> GatewayAccount | None:
    """Webhooks name their account in the URL; the account tells the tenant."""
    account = await host.accounts.named(gateway, account_id)
    if account is not None:
        logs.bind(tenant_id=account.tenant_id, account_id=account_id, gateway=gateway)
    return account


async def signed_call(
    host: IngressHost, request: Request, gateway: str, account_id: str
) -> tuple[bytes, GatewayAccount]:
    """The raw body (its signature is checked over these exact bytes) and the account; else `unauthenticated()`.

    The caller checks the signature next and answers a bad one with `unauthenticated()` too.
    """
    raw = await request.body()  # the ingress cuts it at the webhook limit (services/ingress/body_limits.py)
    account = await named_account(host, gateway, account_id)
    if account is None:
        raise unauthenticated()
    return raw, account


async def named_account(host: IngressHost, gateway: str, account_id: str) -> GatewayAccount | None:
    """The account of the URL's id (only the canonical form printed in webhook_urls), or None."""
    try:
        wanted = uuid.UUID(account_id)
    except ValueError:
        return None
    if str(wanted) != account_id.lower():
        return None
    return await gateway_account(host, gateway, wanted)
