"""Refunds of the tenant, newest first, with their transaction, status and error."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.ingress.console import paging
from services.ingress.console.pages.transactions import PAGE_SIZE, console_reads
from services.ingress.console.session import Viewer
from services.ingress.console.web import render

router = APIRouter()
REFUND_STATUSES = ("requested", "succeeded", "failed")


@router.get("/refunds")
async def refunds_list(request: Request, who: Viewer) -> Response:
    status = request.query_params.get("status", "")
    chosen = status if status in REFUND_STATUSES else None
    window, notice = paging.requested_window(request, PAGE_SIZE)
    page = await who.ctx.read(lambda engine: console_reads(who, engine).refunds_page(chosen, window, PAGE_SIZE))
    return render(
        request,
        "refunds.html",
        who=who,
        notice=notice,
        items=page.items,
        pager=paging.pager(page, {"status": chosen} if chosen else {}),
        chosen=chosen or "",
        statuses=REFUND_STATUSES,
    )
