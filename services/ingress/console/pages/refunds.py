"""Refunds of the tenant, newest first, with their transaction, status and error."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.ingress.console.pages.transactions import PAGE_SIZE, console_reads
from services.ingress.console.session import Viewer
from services.ingress.console.web import render

router = APIRouter()
REFUND_STATUSES = ("requested", "succeeded", "failed")


@router.get("/refunds")
async def refunds_list(request: Request, who: Viewer) -> Response:
    status = request.query_params.get("status", "")
    try:
        page = max(1, min(int(request.query_params.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    chosen = status if status in REFUND_STATUSES else None
    items, total = await who.ctx.read(lambda engine: console_reads(who, engine).refunds_page(chosen, page, PAGE_SIZE))
    return render(
        request,
        "refunds.html",
        who=who,
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        chosen=chosen or "",
        statuses=REFUND_STATUSES,
        query={"status": chosen} if chosen else {},
    )
