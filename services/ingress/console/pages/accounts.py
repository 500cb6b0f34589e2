"""Gateway accounts: add, edit, rotate credentials, copy webhook URLs; secrets go in and never come back out."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.ingress.console.session import NotFoundHere, SignedIn, allowed, checked_form, field
from services.ingress.console.web import render
from shared.domain.errors import UnknownGateway
from shared.gateways.base import InvalidGatewayConfig, SecretsRequired
from shared.i18n import N_
from shared.persistence.admin import AccountView, GatewayAccounts, account_json
from shared.security.apikeys import Permission

router = APIRouter()
Manager = Annotated[SignedIn, Depends(allowed(Permission.GATEWAYS_MANAGE))]


def _accounts(who: SignedIn) -> GatewayAccounts:
    return GatewayAccounts(who.ctx.engine, who.ctx.cipher, who.operator.tenant_id)


def _shown(who: SignedIn, view: AccountView) -> dict[str, Any]:
    return account_json(view, who.ctx.registry.get(view.gateway), who.ctx.settings.public_url)


def _config(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text or "{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


async def _list(request: Request, who: SignedIn, error: str | None = None, typed: str = "") -> Response:
    accounts = [_shown(who, view) for view in await _accounts(who).all()]
    return render(
        request,
        "accounts.html",
        who=who,
        accounts=accounts,
        gateways=who.ctx.registry.names(),
        error=error,
        typed=typed,
    )


@router.get("/accounts")
async def accounts_page(request: Request, who: Manager) -> Response:
    return await _list(request, who)


@router.post("/accounts")
async def add_account(request: Request, who: Manager) -> Response:
    form = await checked_form(request, who)
    typed = field(form, "config")
    config = _config(typed)
    if config is None:
        return await _list(request, who, N_("The configuration must be a JSON object."), typed)
    try:
        adapter = who.ctx.registry.get(field(form, "gateway"))
        view = await _accounts(who).add(adapter, config)
    except (UnknownGateway, InvalidGatewayConfig) as exc:
        return await _list(request, who, str(exc), typed)
    return RedirectResponse(f"/console/accounts/{view.id}?done=added", status_code=303)


async def _mine(who: SignedIn, account_id: str) -> AccountView:
    try:
        view = await _accounts(who).get(uuid.UUID(account_id))
    except ValueError:
        view = None
    if view is None:
        raise NotFoundHere
    return view


async def _detail(request: Request, who: SignedIn, view: AccountView, error: str | None = None) -> Response:
    shown = _shown(who, view)
    return render(
        request,
        "account.html",
        who=who,
        account=shown,
        public_json=json.dumps(shown["config"], indent=2, ensure_ascii=False, sort_keys=True),
        error=error,
        done=request.query_params.get("done"),
    )


@router.get("/accounts/{account_id}")
async def account_page(request: Request, account_id: str, who: Manager) -> Response:
    return await _detail(request, who, await _mine(who, account_id))


@router.post("/accounts/{account_id}")
async def edit_account(request: Request, account_id: str, who: Manager) -> Response:
    """Edit the public settings (a JSON object) or rotate credentials (one write-only input per secret)."""
    form = await checked_form(request, who)
    view = await _mine(who, account_id)
    if field(form, "kind") == "secrets":
        changes: dict[str, Any] | None = {
            name: field(form, f"secret_{name}") for name in view.secret_names if field(form, f"secret_{name}")
        }
    else:
        changes = _config(field(form, "config"))
    if not changes:
        return await _detail(request, who, view, N_("Nothing to change."))
    try:
        updated = await _accounts(who).update(who.ctx.registry.get(view.gateway), view.id, changes)
    except (InvalidGatewayConfig, SecretsRequired) as exc:
        return await _detail(request, who, view, str(exc))
    if updated is None:
        raise NotFoundHere
    who.ctx.accounts.clear()
    return RedirectResponse(f"/console/accounts/{view.id}?done=saved", status_code=303)
