"""The custom integrators' webhook: HMAC-signed JSON status callbacks."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from shared.gateways.integrator.messages import IntegratorCallback, IntegratorStatusMessage
from shared.gateways.integrator.signature import LEGACY, SIGNATURE_HEADER, signature_valid
from shared.gateways.webhooks import Host, signed_call, unauthenticated
from shared.persistence.queries import TenantReads
from shared.problem import Problem

GATEWAY = "integrator"
router = APIRouter(prefix="/webhooks", tags=["gateway webhooks"])


@router.post("/integrator/{account_id}")
async def integrator_status(account_id: str, request: Request, host: Host) -> JSONResponse:
    raw, account = await signed_call(host, request, GATEWAY, account_id)
    secrets = (account.config.get("secret"), account.config.get("previous_secret"))
    legacy = account.config.get("signature") == LEGACY
    if not signature_valid(secrets, raw, request.headers.get(SIGNATURE_HEADER), legacy=legacy):
        raise unauthenticated()  # the same answer as for an unknown account
    try:
        callback = IntegratorCallback.model_validate(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Problem(400, "malformed_json", "the body is not valid JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Problem(422, "invalid_request", f"{where}: {first['msg']}") from None
    tx = await TenantReads(host.engine, account.tenant_id).get(callback.transaction_id)
    if tx is None or tx["gateway"] != GATEWAY or tx["account_id"] != str(account.id):
        # Refused now, not retried and parked later: the integrator learns at once that we hold no such payment.
        raise Problem(404, "transaction_not_found", f"no transaction {callback.transaction_id} of this account")
    command_id = f"integrator:{account.id}:{callback.transaction_id}:{callback.status}"
    message = IntegratorStatusMessage(
        command_id=command_id,
        tenant_id=account.tenant_id,
        actor=f"gateway:integrator:{account.id}",
        account_id=account.id,
        transaction_id=callback.transaction_id,
        status=callback.status,
        error_code=None if callback.error_code is None else str(callback.error_code),
        error_note=callback.error_note,
        data=callback.data,
    )
    await host.send(message, command_id)
    return JSONResponse({"received": True, "transaction_id": str(callback.transaction_id)}, status_code=200)
