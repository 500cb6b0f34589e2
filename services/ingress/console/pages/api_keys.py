"""API keys of the tenant: listed without secrets, issued (the key shown once), revoked."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.ingress.console.session import NotFoundHere, SignedIn, allowed, checked_form, field
from services.ingress.console.web import render
from shared.persistence.api_keys import ApiKeys
from shared.security.apikeys import Permission

router = APIRouter()
Manager = Annotated[SignedIn, Depends(allowed(Permission.GATEWAYS_MANAGE))]


async def _page(request: Request, who: SignedIn, issued: str | None = None, error: str | None = None) -> Response:
    keys = await ApiKeys(who.ctx.engine, who.operator.tenant_id).live()
    grantable = [p.value for p in Permission if who.operator.may(p.value)]
    return render(request, "api_keys.html", who=who, keys=keys, grantable=grantable, issued=issued, error=error)


@router.get("/api-keys")
async def api_keys_page(request: Request, who: Manager) -> Response:
    return await _page(request, who)


@router.post("/api-keys")
async def issue_api_key(request: Request, who: Manager) -> Response:
    form = await checked_form(request, who)
    wanted = [value for value in form.getlist("permissions") if isinstance(value, str)]
    # An operator grants only what they hold themselves, as a key does through the API.
    if not wanted or any(not who.operator.may(p) for p in wanted) or any(p not in set(Permission) for p in wanted):
        return await _page(request, who, error="permissions")
    name = field(form, "name")[:200] or None
    issued, _ = await ApiKeys(who.ctx.engine, who.operator.tenant_id).issue([Permission(p) for p in wanted], name)
    response = await _page(request, who, issued=issued.secret)
    return response


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: str, who: Manager) -> Response:
    await checked_form(request, who)
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise NotFoundHere from None
    if not await ApiKeys(who.ctx.engine, who.operator.tenant_id).revoke(parsed):
        raise NotFoundHere
    who.ctx.keys.forget(parsed)
    return RedirectResponse("/console/api-keys", status_code=303)
