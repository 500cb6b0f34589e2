"""Gateway accounts: credentials go in, never come back out."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from services.ingress.auth import require
from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from services.ingress.schemas import AccountBody, AccountPatch
from shared.domain.errors import UnknownGateway
from shared.gateways.base import GatewayAdapter, InvalidGatewayConfig, SecretsRequired
from shared.persistence.admin import AccountInUse, GatewayAccounts, account_json
from shared.security.apikeys import Permission, Principal

router = APIRouter(prefix="/v1/gateway-accounts", tags=["gateway accounts"])
Ctx = Annotated[Ingress, Depends(ingress)]
Manager = Annotated[Principal, Depends(require(Permission.GATEWAYS_MANAGE))]


def _accounts(ctx: Ingress, who: Principal) -> GatewayAccounts:
    return GatewayAccounts(ctx.engine, ctx.cipher, who.tenant_id)


def _adapter(ctx: Ingress, gateway: str) -> GatewayAdapter:
    try:
        return ctx.registry.get(gateway)
    except UnknownGateway as exc:
        raise Problem(422, exc.code, str(exc)) from None


@router.post("", status_code=201)
async def add_account(body: AccountBody, ctx: Ctx, who: Manager) -> dict[str, Any]:
    adapter = _adapter(ctx, body.gateway)
    try:
        view = await _accounts(ctx, who).add(adapter, body.config)
    except InvalidGatewayConfig as exc:
        raise Problem(422, "invalid_gateway_config", str(exc)) from None
    return account_json(view, adapter, ctx.settings.public_url)


@router.get("")
async def list_accounts(ctx: Ctx, who: Manager) -> dict[str, Any]:
    views = await _accounts(ctx, who).all()
    return {"items": [account_json(v, _adapter(ctx, v.gateway), ctx.settings.public_url) for v in views]}


@router.get("/{account_id}")
async def get_account(account_id: uuid.UUID, ctx: Ctx, who: Manager) -> dict[str, Any]:
    view = await _accounts(ctx, who).get(account_id)
    if view is None:
        raise Problem(404, "account_not_found", f"no gateway account {account_id}")
    return account_json(view, _adapter(ctx, view.gateway), ctx.settings.public_url)


@router.patch("/{account_id}")
async def update_account(account_id: uuid.UUID, body: AccountPatch, ctx: Ctx, who: Manager) -> dict[str, Any]:
    accounts = _accounts(ctx, who)
    current = await accounts.get(account_id)
    if current is None:
        raise Problem(404, "account_not_found", f"no gateway account {account_id}")
    adapter = _adapter(ctx, current.gateway)
    try:
        view = await accounts.update(adapter, account_id, body.config)
    except SecretsRequired as exc:
        required = [{"field": name, "message": "required again when a URL changes"} for name in exc.required]
        raise Problem(422, "invalid_gateway_config", str(exc), errors=required) from None
    except InvalidGatewayConfig as exc:
        raise Problem(422, "invalid_gateway_config", str(exc)) from None
    if view is None:
        raise Problem(404, "account_not_found", f"no gateway account {account_id}")
    ctx.accounts.clear()
    return account_json(view, adapter, ctx.settings.public_url)


@router.delete("/{account_id}", status_code=204)
async def remove_account(account_id: uuid.UUID, ctx: Ctx, who: Manager) -> Response:
    try:
        removed = await _accounts(ctx, who).remove(account_id)
    except AccountInUse as exc:
        raise Problem(409, "account_in_use", str(exc)) from None
    if not removed:
        raise Problem(404, "account_not_found", f"no gateway account {account_id}")
    ctx.accounts.clear()
    return Response(status_code=204)
