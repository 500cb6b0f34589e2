"""Merchant webhook endpoints: where a tenant's events are POSTed, signed, and what became of each delivery."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from services.ingress.auth import require
from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from services.ingress.schemas import WebhookEndpointBody, WebhookEndpointPatch
from shared.domain.webhooks import ROTATION_OVERLAP, InvalidEndpoint, event_types, new_secret
from shared.persistence.webhooks import WebhookEndpoints, delivery_json, endpoint_json
from shared.security.apikeys import Permission, Principal
from shared.security.egress import UnsafeDestination, check_url

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"])
Ctx = Annotated[Ingress, Depends(ingress)]
Manager = Annotated[Principal, Depends(require(Permission.GATEWAYS_MANAGE))]


def _endpoints(ctx: Ingress, who: Principal) -> WebhookEndpoints:
    return WebhookEndpoints(ctx.engine, ctx.cipher, who.tenant_id)


def _not_found(endpoint_id: uuid.UUID) -> Problem:
    return Problem(404, "webhook_endpoint_not_found", f"no webhook endpoint {endpoint_id}")


async def _checked_url(ctx: Ingress, url: str) -> str:
    """The URL if deliveries may go there (https, public addresses: resolving may block, so off the loop).

    A query is the merchant's own (often a token of theirs); we POST to the URL as it is."""
    try:
        return await asyncio.to_thread(
            check_url, url.strip(), allow_private=ctx.settings.webhooks_allow_private, allow_query=True
        )
    except UnsafeDestination as exc:
        raise Problem(422, "unsafe_webhook_url", f"url {exc}", errors=[{"field": "url", "message": str(exc)}]) from None


def _checked_events(events: list[str]) -> list[str]:
    try:
        return event_types(events)
    except InvalidEndpoint as exc:
        raise Problem(
            422, "invalid_webhook_events", str(exc), errors=[{"field": "events", "message": str(exc)}]
        ) from None


@router.post("", status_code=201)
async def add_endpoint(body: WebhookEndpointBody, ctx: Ctx, who: Manager) -> dict[str, Any]:
    """Create an endpoint; its signing secret is in this answer only."""
    events = _checked_events(body.events)
    url = await _checked_url(ctx, body.url)
    secret = new_secret()
    view = await _endpoints(ctx, who).add(url, events, body.description, secret)
    return {**endpoint_json(view), "secret": secret}


@router.get("")
async def list_endpoints(ctx: Ctx, who: Manager) -> dict[str, Any]:
    return {"items": [endpoint_json(view) for view in await _endpoints(ctx, who).all()]}


@router.get("/{endpoint_id}")
async def get_endpoint(endpoint_id: uuid.UUID, ctx: Ctx, who: Manager) -> dict[str, Any]:
    view = await _endpoints(ctx, who).get(endpoint_id)
    if view is None:
        raise _not_found(endpoint_id)
    return endpoint_json(view)


@router.patch("/{endpoint_id}")
async def update_endpoint(endpoint_id: uuid.UUID, body: WebhookEndpointPatch, ctx: Ctx, who: Manager) -> dict[str, Any]:
    """Change url, events, description or enabled; a field left out stays as it is."""
    given = body.model_fields_set
    for name in ("url", "events", "enabled"):
        if name in given and getattr(body, name) is None:
            raise Problem(
                422, "invalid_request", f"{name}: may not be null", errors=[{"field": name, "message": "null"}]
            )
    changes: dict[str, Any] = {}
    if body.events is not None:
        changes["events"] = _checked_events(body.events)
    if body.url is not None:
        changes["url"] = await _checked_url(ctx, body.url)
    if "description" in given:
        changes["description"] = body.description
    if body.enabled is not None:
        changes["enabled"] = body.enabled
    endpoints = _endpoints(ctx, who)
    view = await endpoints.update(endpoint_id, changes) if changes else await endpoints.get(endpoint_id)
    if view is None:
        raise _not_found(endpoint_id)
    return endpoint_json(view)


@router.delete("/{endpoint_id}", status_code=204)
async def remove_endpoint(endpoint_id: uuid.UUID, ctx: Ctx, who: Manager) -> Response:
    """Delete the endpoint with its delivery log; nothing more is sent to it."""
    if not await _endpoints(ctx, who).remove(endpoint_id):
        raise _not_found(endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret")
async def rotate_secret(endpoint_id: uuid.UUID, ctx: Ctx, who: Manager) -> dict[str, str]:
    """A new signing secret, shown once; the old one keeps signing beside it for 24 hours."""
    secret = new_secret()
    if not await _endpoints(ctx, who).rotate(endpoint_id, secret, ROTATION_OVERLAP.total_seconds()):
        raise _not_found(endpoint_id)
    return {"secret": secret}


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    endpoint_id: uuid.UUID,
    ctx: Ctx,
    who: Manager,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The newest deliveries first, each with its attempts."""
    views = await _endpoints(ctx, who).deliveries(endpoint_id, limit)
    if views is None:
        raise _not_found(endpoint_id)
    return {"items": [delivery_json(view) for view in views]}


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry", status_code=202)
async def retry_delivery(endpoint_id: uuid.UUID, delivery_id: uuid.UUID, ctx: Ctx, who: Manager) -> JSONResponse:
    """Send a delivery again now (also a delivered or failed one), with the same webhook-id."""
    if not await _endpoints(ctx, who).retry(endpoint_id, delivery_id):
        raise Problem(404, "webhook_delivery_not_found", f"no delivery {delivery_id} of webhook endpoint {endpoint_id}")
    return JSONResponse({"id": str(delivery_id), "status": "pending"}, status_code=202)
