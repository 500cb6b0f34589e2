"""This tenant's parked messages (commands that could not be handled), with their reasons, and replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.ingress.console.session import NotFoundHere, SignedIn, allowed, checked_form, field
from services.ingress.console.web import render
from shared.cli.dlq import list_parked, replay
from shared.security.apikeys import Permission

router = APIRouter()
Manager = Annotated[SignedIn, Depends(allowed(Permission.GATEWAYS_MANAGE))]
LIMIT = 1000


@router.get("/parked")
async def parked_page(request: Request, who: Manager) -> Response:
    error = None
    try:
        items = await list_parked(who.ctx.settings.amqp_url, LIMIT, str(who.operator.tenant_id))
    except Exception:  # the broker is the thing to look at; the page says so instead of failing
        items, error = [], "broker"
    return render(request, "parked.html", who=who, items=items, error=error, done=request.query_params.get("done"))


@router.post("/parked/replay")
async def replay_parked(request: Request, who: Manager) -> Response:
    form = await checked_form(request, who)
    message_id = field(form, "message_id")
    # Only this tenant's messages are ever taken off the queue: another tenant's id replays nothing.
    done = await replay(
        who.ctx.settings.amqp_url, {message_id} if message_id else None, LIMIT, str(who.operator.tenant_id)
    )
    if message_id and not done:
        raise NotFoundHere
    return RedirectResponse(f"/console/parked?done={len(done)}", status_code=303)
