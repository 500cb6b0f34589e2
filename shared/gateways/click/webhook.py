"""Click's SHOP API: the ingress checks -8, -1 and -3 itself; the processor answers the rest by request-reply."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from shared.broker.rpc import GatewayCall, RpcUnavailable
from shared.gateways.base import GatewayAccount
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.shop import (
    REPLY_BY,
    BadRequest,
    ClickError,
    Operation,
    answer,
    is_signed,
    parse,
    read_fields,
    required_fields,
)
from shared.gateways.webhooks import Host, IngressHost, named_account
from shared.persistence.errors import DatabaseUnavailable

GATEWAY = "click"
router = APIRouter(prefix="/webhooks/click", tags=["gateway webhooks"])
log = logging.getLogger(__name__)


@router.post("/{account_id}/prepare")
async def prepare(account_id: str, request: Request, host: Host) -> JSONResponse:
    return await _handle(Operation.PREPARE, account_id, request, host)


@router.post("/{account_id}/complete")
async def complete(account_id: str, request: Request, host: Host) -> JSONResponse:
    return await _handle(Operation.COMPLETE, account_id, request, host)


async def _handle(operation: Operation, account_id: str, request: Request, host: IngressHost) -> JSONResponse:
    """Always HTTP 200 with Click's JSON: Click reads the `error` field, never the status line."""
    raw = await request.body()  # cut at the webhook limit (services/ingress/body_limits.py)
    received: dict[str, str] = {}
    try:
        received = read_fields(raw, request.headers.get("content-type", ""))
        call = parse(operation, received)
    except BadRequest as exc:
        return _reply(operation, received, ClickError.BAD_REQUEST, f"{ClickError.BAD_REQUEST.note}: {exc}")
    try:
        account = await named_account(host, GATEWAY, account_id)
    except DatabaseUnavailable as exc:
        log.warning("click: the account could not be read", extra={"error": str(exc)[:300]})
        return _reply(operation, received, ClickError.FAILED_TO_UPDATE)
    # An unknown account and a wrong sign get the same -1, and nothing about the account (its service_id
    # included) is compared before the sign: a caller without the secret learns nothing.
    if account is None:
        return _reply(operation, received, ClickError.SIGN_CHECK_FAILED)
    try:
        config = ClickConfig.model_validate(account.config)
    except ValidationError:
        log.exception("click: the account's stored config is not a valid Click config", extra={"account": account_id})
        return _reply(operation, received, ClickError.FAILED_TO_UPDATE)
    if not is_signed(call, config.secret_key):
        log.warning("click: sign check failed", extra={"account_id": account_id, "operation": operation.value})
        return _reply(operation, received, ClickError.SIGN_CHECK_FAILED)
    if call.service_id != config.service_id:
        note = f"{ClickError.BAD_REQUEST.note}: service_id does not match this account"
        return _reply(operation, received, ClickError.BAD_REQUEST, note)
    if call.action != operation.action:
        return _reply(operation, received, ClickError.ACTION_NOT_FOUND)
    return await _ask_processor(host, operation, account, received)


async def _ask_processor(
    host: IngressHost, operation: Operation, account: GatewayAccount, received: dict[str, str]
) -> JSONResponse:
    timeout_s = host.settings.rpc_timeout_s
    params: dict[str, Any] = {name: received[name] for name in required_fields(operation)}
    params[REPLY_BY] = time.time() + timeout_s
    request = GatewayCall(
        gateway="click", tenant_id=account.tenant_id, account_id=account.id, operation=operation.value, params=params
    )
    try:
        reply = await host.rpc.call(request, timeout_s)
    except (RpcUnavailable, ValidationError, ValueError) as exc:
        # -7 is the only code Click's list offers for "our side failed"; the request expires unprocessed.
        log.warning("click: no answer from the processor", extra={"error": repr(exc)[:300]})
        return _reply(operation, received, ClickError.FAILED_TO_UPDATE)
    if not reply.ok or not isinstance(reply.body, dict):
        log.warning("click: the processor could not answer", extra={"error": (reply.error or "")[:300]})
        return _reply(operation, received, ClickError.FAILED_TO_UPDATE)
    return JSONResponse(reply.body, status_code=200)


def _reply(operation: Operation, received: dict[str, str], error: ClickError, note: str | None = None) -> JSONResponse:
    return JSONResponse(answer(operation, received, error, note=note), status_code=200)
