"""Reconciliation runs: started through the broker, read back with progress, counts and differences."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.ingress.auth import require
from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from shared.messages import RunReconciliationMessage
from shared.persistence.repositories import AccountDirectory
from shared.reconciliation.runs import queue_run, run_view
from shared.reconciliation.sources import ApiReconciliation
from shared.security.apikeys import Permission, Principal

router = APIRouter(prefix="/v1/reconciliations", tags=["reconciliations"])
Ctx = Annotated[Ingress, Depends(ingress)]
Reconciler = Annotated[Principal, Depends(require(Permission.RECONCILE))]


class RunBody(BaseModel):
    """The contract's `{account_id, from, to}`; errors name those fields as the caller wrote them."""

    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> RunBody:
        if self.end <= self.start:
            raise ValueError("`to` must be after `from`")
        return self


@router.post("", status_code=202)
async def start_run(request: Request, ctx: Ctx, who: Reconciler) -> JSONResponse:
    fields, file_name, file_body = await _read(request)
    try:
        body = RunBody.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Problem(422, "invalid_request", f"{where}: {first['msg']}") from None
    account = await AccountDirectory(ctx.engine, ctx.cipher).get(who.tenant_id, body.account_id)
    if account is None:
        raise Problem(404, "account_not_found", f"no gateway account {body.account_id}")
    if file_body is None and not isinstance(ctx.registry.get(account.gateway), ApiReconciliation):
        raise Problem(
            422, "no_api_source", f"{account.gateway} has no API to reconcile with: upload its settlement file"
        )
    # A settlement file is the caller's word, not the provider's: it may complete payments only for a key
    # that could have completed them anyway. Otherwise its differences are listed for a person.
    apply_fixes = file_body is None or Permission.CREATE.value in who.permissions
    run_id = await queue_run(
        ctx.engine, account, body.start, body.end, file_name=file_name, file_body=file_body, apply_fixes=apply_fixes
    )
    assert run_id is not None
    command_id = f"reconcile:{run_id}"
    message = RunReconciliationMessage(
        command_id=command_id, tenant_id=who.tenant_id, actor=who.actor, reconciliation_id=run_id
    )
    await ctx.send(message, command_id)
    return JSONResponse({"id": str(run_id), "status": "queued"}, status_code=202)


async def _read(request: Request) -> tuple[dict[str, Any], str | None, bytes | None]:
    """JSON `{account_id, from, to}`, or a multipart form with the same fields and a `file`."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Problem(422, "invalid_request", "file: a settlement file is required in a multipart upload")
        body = await upload.read()  # spooled to disk while parsed, and cut at the upload limit while it streamed
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
        return fields, upload.filename, body
    try:
        fields = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Problem(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(fields, dict):
        raise Problem(422, "invalid_request", "the body must be a JSON object")
    return fields, None, None


@router.get("/{run_id}")
async def get_run(run_id: uuid.UUID, ctx: Ctx, who: Reconciler) -> dict[str, Any]:
    view = await run_view(ctx.engine, who.tenant_id, run_id)
    if view is None:
        raise Problem(404, "reconciliation_not_found", f"no reconciliation {run_id}")
    return view
