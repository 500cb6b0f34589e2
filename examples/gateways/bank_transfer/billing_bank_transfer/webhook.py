"""The bank's callback: verified here, applied by the processor, answered in the bank's own JSON."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from billing_bank_transfer.adapter import NAME
from billing_bank_transfer.callback import (
    OPERATION,
    SIGNATURE_HEADER,
    CallbackAnswer,
    TransferCallback,
    refused,
    signature_valid,
)
from shared.broker.rpc import GatewayCall, RpcUnavailable
from shared.gateways.webhooks import Host, gateway_account

router = APIRouter(prefix="/webhooks", tags=["gateway webhooks"])


def _answer(answer: CallbackAnswer) -> JSONResponse:
    return JSONResponse(answer.body(), status_code=answer.http_status)


@router.post(f"/{NAME}/{{account_id}}")
async def bank_callback(account_id: str, request: Request, host: Host) -> JSONResponse:
    raw = await request.body()
    try:
        account = await gateway_account(host, NAME, uuid.UUID(account_id))
    except ValueError:
        account = None
    secret = None if account is None else str(account.config["secret"])
    if account is None or secret is None or not signature_valid(secret, raw, request.headers.get(SIGNATURE_HEADER)):
        return _answer(refused(401, "signature"))  # an unknown account and a forged call look the same
    try:
        callback = TransferCallback.model_validate(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError):
        return _answer(refused(400, "malformed"))
    call = GatewayCall(
        gateway=NAME,
        tenant_id=account.tenant_id,
        account_id=account.id,
        operation=OPERATION,
        params=callback.model_dump(mode="json"),
    )
    try:
        reply = await host.rpc.call(call, host.settings.rpc_timeout_s)
        if not reply.ok:
            raise RpcUnavailable(reply.error or "the processor could not apply the callback")
        return _answer(CallbackAnswer.model_validate(reply.body))
    except (RpcUnavailable, ValidationError):
        return _answer(refused(503, "try_again"))
