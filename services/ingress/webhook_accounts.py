"""Webhooks name their gateway account in the URL; the account tells the tenant."""

from __future__ import annotations

import uuid

from fastapi import Request

from services.ingress.context import Ingress
from services.ingress.problems import Problem
from shared import logs
from shared.gateways.base import GatewayAccount


async def gateway_account(ctx: Ingress, gateway: str, account_id: uuid.UUID) -> GatewayAccount | None:
    """Webhooks name their account in the URL; the account tells the tenant."""
    account = await ctx.accounts.named(gateway, account_id)
    if account is not None:
        logs.bind(tenant_id=account.tenant_id, account_id=account_id, gateway=gateway)
    return account


async def signed_call(
    ctx: Ingress, request: Request, gateway: str, account_id: uuid.UUID
) -> tuple[bytes, GatewayAccount]:
    """The raw body (its signature is checked over these exact bytes) and the account, or a problem+json."""
    raw = await request.body()  # cut at the webhook limit (services/ingress/body_limits.py)
    account = await gateway_account(ctx, gateway, account_id)
    if account is None:
        raise Problem(404, "account_not_found", f"no {gateway} account {account_id}")
    return raw, account
