"""Reconciliation runs: start one for an account and dates or from a settlement file, follow it, see differences."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.ingress.console.pages.transactions import console_reads
from services.ingress.console.session import NotFoundHere, SignedIn, allowed, checked_form, field
from services.ingress.console.web import render
from shared.i18n import N_
from shared.messages import RunReconciliationMessage
from shared.persistence import driver
from shared.persistence.repositories import AccountRepository
from shared.reconciliation.runs import queue_run, run_view
from shared.reconciliation.sources import ApiReconciliation
from shared.security.apikeys import Permission

router = APIRouter()
Reconciler = Annotated[SignedIn, Depends(allowed(Permission.RECONCILE))]


async def _list(request: Request, who: SignedIn, error: str | None = None) -> Response:
    reads = console_reads(who)
    return render(
        request,
        "reconciliations.html",
        who=who,
        runs=await reads.reconciliation_runs(),
        accounts=await reads.account_ids(),
        error=error,
    )


@router.get("/reconciliations")
async def reconciliations_page(request: Request, who: Reconciler) -> Response:
    return await _list(request, who)


@router.post("/reconciliations")
async def start_reconciliation(request: Request, who: Reconciler) -> Response:
    """Queue a run and send the same command as `POST /v1/reconciliations`."""
    form = await checked_form(request, who)
    zone = ZoneInfo(who.operator.timezone)
    try:
        account_id = uuid.UUID(field(form, "account_id"))
        start = datetime.combine(date.fromisoformat(field(form, "from")), time.min, tzinfo=zone)
        end = datetime.combine(date.fromisoformat(field(form, "to")) + timedelta(days=1), time.min, tzinfo=zone)
    except ValueError:
        return await _list(request, who, N_("Choose an account and both dates."))
    if end <= start:
        return await _list(request, who, N_("The end date must not be before the start date."))
    async with driver.connection(who.ctx.engine) as db:
        account = await AccountRepository(db, who.operator.tenant_id, who.ctx.cipher).get(account_id)
    if account is None:
        raise NotFoundHere
    upload = form.get("file")
    file_name, file_body = None, None
    if isinstance(upload, UploadFile) and upload.filename:
        file_name, file_body = upload.filename, await upload.read()
    if file_body is None and not isinstance(who.ctx.registry.get(account.gateway), ApiReconciliation):
        return await _list(request, who, N_("This gateway has no API to reconcile with: upload its settlement file."))
    run_id = await queue_run(who.ctx.engine, account, start, end, file_name=file_name, file_body=file_body)
    assert run_id is not None
    command_id = f"reconcile:{run_id}"
    message = RunReconciliationMessage(
        command_id=command_id, tenant_id=who.operator.tenant_id, actor=who.operator.actor, reconciliation_id=run_id
    )
    await who.ctx.send(message, command_id)
    return RedirectResponse(f"/console/reconciliations/{run_id}", status_code=303)


@router.get("/reconciliations/{run_id}")
async def reconciliation_page(request: Request, run_id: str, who: Reconciler) -> Response:
    try:
        view = await run_view(who.ctx.engine, who.operator.tenant_id, uuid.UUID(run_id))
    except ValueError:
        view = None
    if view is None:
        raise NotFoundHere
    return render(request, "reconciliation.html", who=who, run=view)
