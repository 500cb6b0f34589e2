"""API keys of the caller's tenant: issued (shown once), listed without secrets, revoked."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from services.ingress.auth import require
from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from services.ingress.schemas import ApiKeyBody
from shared.clock import utc_now
from shared.persistence.api_keys import ApiKeys
from shared.security.apikeys import Permission, Principal

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
Ctx = Annotated[Ingress, Depends(ingress)]
Manager = Annotated[Principal, Depends(require(Permission.GATEWAYS_MANAGE))]


@router.post("", status_code=201)
async def create_api_key(body: ApiKeyBody, ctx: Ctx, who: Manager) -> dict[str, Any]:
    beyond = sorted({p.value for p in body.permissions} - who.permissions)
    if beyond:
        raise Problem(
            403, "permission_denied", f"a key can only grant permissions it holds itself: {', '.join(beyond)}"
        )
    if body.expires_at is not None and body.expires_at <= utc_now():
        raise Problem(
            422,
            "invalid_request",
            "expires_at: must be in the future",
            errors=[{"field": "expires_at", "message": "must be in the future"}],
        )
    issued, view = await ApiKeys(ctx.engine, who.tenant_id).issue(body.permissions, body.name, body.expires_at)
    return {**view.as_json(), "key": issued.secret}


@router.get("")
async def list_api_keys(ctx: Ctx, who: Manager) -> dict[str, Any]:
    return {"items": [view.as_json() for view in await ApiKeys(ctx.engine, who.tenant_id).live()]}


@router.delete("/{key_id}", status_code=204)
async def revoke_api_key(key_id: uuid.UUID, ctx: Ctx, who: Manager) -> Response:
    if not await ApiKeys(ctx.engine, who.tenant_id).revoke(key_id):
        raise Problem(404, "api_key_not_found", f"no live API key {key_id}")
    ctx.keys.forget(key_id)
    return Response(status_code=204)
