"""The API key's own tenant: its name and the currency it books in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.ingress.auth import principal, require
from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from services.ingress.schemas import Body
from shared.domain.errors import UnknownCurrency
from shared.domain.money import Currency
from shared.persistence.admin import set_reporting_currency, tenant_view
from shared.security.apikeys import Permission, Principal

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])
Ctx = Annotated[Ingress, Depends(ingress)]


class TenantPatch(Body):
    reporting_currency: str = Field(min_length=1, max_length=16, description="ISO 4217 code, e.g. UZS")


class TenantView(BaseModel):
    id: str
    name: str
    reporting_currency: str = Field(description="the ISO 4217 currency every conversion is made into")


def _found(view: dict[str, Any] | None) -> TenantView:
    if view is None:
        raise Problem(404, "tenant_not_found", "the API key's tenant no longer exists")
    return TenantView(**view)


@router.get("")
async def get_tenant(ctx: Ctx, who: Annotated[Principal, Depends(principal)]) -> TenantView:
    return _found(await tenant_view(ctx.engine, who.tenant_id))


@router.patch("")
async def update_tenant(
    body: TenantPatch, ctx: Ctx, who: Annotated[Principal, Depends(require(Permission.GATEWAYS_MANAGE))]
) -> TenantView:
    try:
        code = Currency.of(body.reporting_currency).code
    except UnknownCurrency as exc:
        raise Problem(422, exc.code, str(exc)) from None
    return _found(await set_reporting_currency(ctx.engine, who.tenant_id, code))
