"""Octo's notify callback: verified here, decided by the processor, answered in Octo's own JSON shape.

Octo resends a notify until it gets HTTP 200, so only a verified notify the processor has recorded gets one;
for `waiting_for_capture` the answer carries the capture decision.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from shared.broker.rpc import GatewayCall, RpcUnavailable
from shared.gateways.octo.notices import (
    MalformedNotice,
    NotifyError,
    NotifyVerdict,
    read_notice,
    refusal,
    render,
)
from shared.gateways.octo.signature import signature_valid
from shared.gateways.octo.statuses import parse_status
from shared.gateways.webhooks import Host, named_account, unauthenticated
from shared.persistence.errors import DatabaseUnavailable

router = APIRouter(prefix="/webhooks", tags=["gateway webhooks"])
log = logging.getLogger(__name__)
NOTIFY = "notify"


def _json(answer: tuple[int, bytes]) -> Response:
    status, body = answer
    return Response(body, status_code=status, media_type="application/json")


@router.post("/octo/{account_id}")
async def octo_notify(account_id: str, request: Request, host: Host) -> Response:
    raw = await request.body()  # the ingress cuts it at the webhook limit (services/ingress/body_limits.py)
    try:
        # Read before the account is looked up: a malformed body gets the same answer on any URL.
        notice = read_notice(raw, request.headers.get("content-type"))
    except MalformedNotice as exc:
        return _json(refusal(400, NotifyError.MALFORMED, str(exc)))
    try:
        account = await named_account(host, "octo", account_id)
    except DatabaseUnavailable as exc:
        log.warning("octo: the account could not be read; Octo will resend", extra={"error": str(exc)[:300]})
        return _json(refusal(503, NotifyError.TRY_AGAIN, "not recorded yet; send it again"))
    if account is None:
        raise unauthenticated()
    unique_key = str(account.config["unique_key"])
    if not signature_valid(unique_key, notice.octo_payment_UUID, notice.status, notice.signature):
        log.warning("forged or mis-signed Octo notify", extra={"account_id": account_id})
        raise unauthenticated()  # the same answer as for an unknown account
    if parse_status(notice.status) is None:
        # Refused, not acknowledged: Octo keeps resending until this code knows the status.
        return _json(refusal(422, NotifyError.UNKNOWN_STATUS, f"unknown status {notice.status[:50]!r}"))
    call = GatewayCall(
        gateway="octo",
        tenant_id=account.tenant_id,
        account_id=account.id,
        operation=NOTIFY,
        params=notice.model_dump(mode="json"),
    )
    try:
        reply = await host.rpc.call(call, host.settings.rpc_timeout_s)
        if not reply.ok:
            raise RpcUnavailable(reply.error or "the processor could not record the notify")
        verdict = NotifyVerdict.model_validate(reply.body)
    except (RpcUnavailable, ValidationError) as exc:
        log.warning("Octo notify not recorded; Octo will resend", extra={"error": str(exc)[:300]})
        return _json(refusal(503, NotifyError.TRY_AGAIN, "not recorded yet; send it again"))
    return _json(render(verdict))
