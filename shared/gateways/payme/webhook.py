"""Payme's Merchant API endpoint: JSON-RPC in, authenticated here; the read methods answered here from the primary,
the others by the processor over request-reply (it owns every change)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from shared.broker.rpc import GatewayCall, GatewayReply, RpcUnavailable
from shared.clock import utc_now
from shared.gateways.base import GatewayAccount
from shared.gateways.payme.errors import Fault, PaymeError
from shared.gateways.payme.handlers import READ_METHODS, PaymeReads
from shared.gateways.payme.protocol import (
    JSON_UTF8,
    PasswordParams,
    RequestId,
    RpcFailure,
    authenticate,
    failure,
    parse_params,
    parse_request,
    success,
)
from shared.gateways.webhooks import Host, IngressHost, gateway_account
from shared.persistence.errors import DatabaseUnavailable

router = APIRouter(prefix="/webhooks", tags=["gateway webhooks"])
log = logging.getLogger(__name__)


def _answer(body: dict[str, Any]) -> Response:
    # Payme wants HTTP 200 for every answer, errors included, with this exact content type.
    return Response(json.dumps(body, ensure_ascii=False).encode(), status_code=200, media_type=JSON_UTF8)


def _refuse(request_id: RequestId, fault: Fault, data: Any = None) -> Response:
    return _answer(failure(request_id, PaymeError(fault, data)))


@router.post("/payme/{account_id}")
async def payme_call(account_id: str, request: Request, host: Host) -> Response:
    raw = await request.body()  # cut at the webhook limit (services/ingress/body_limits.py)
    try:
        rpc = parse_request(raw)
    except RpcFailure as refused:
        return _answer(failure(refused.request_id, refused.error))
    try:
        account = await _account(host, account_id)
    except DatabaseUnavailable as exc:
        log.warning("payme: the account could not be read", extra={"error": str(exc)[:300]})
        return _refuse(rpc.id, Fault.SYSTEM_ERROR)
    credential = None if account is None else authenticate(account.config, request.headers.get("Authorization"))
    if account is None or credential is None:
        return _refuse(rpc.id, Fault.UNAUTHORIZED)
    try:
        params = parse_params(rpc.method, rpc.params)
    except PaymeError as error:
        return _answer(failure(rpc.id, error))
    if isinstance(params, PasswordParams):
        params = params.model_copy(update={"credential": credential})
    call = GatewayCall(
        gateway="payme",
        tenant_id=account.tenant_id,
        account_id=account.id,
        operation=rpc.method,
        params=params.model_dump(mode="json", by_alias=True),
    )
    reply = await _read_here(host, call) if rpc.method in READ_METHODS else None
    if reply is None or not _conclusive(reply):
        try:
            reply = await host.rpc.call(call, host.settings.rpc_timeout_s)
        except RpcUnavailable as exc:
            log.warning("payme call unanswered", extra={"method": rpc.method, "error": str(exc)[:300]})
            return _refuse(rpc.id, Fault.SYSTEM_ERROR)
        finally:
            if isinstance(params, PasswordParams):
                host.accounts.clear()  # the next call authenticates with the new key (or still the old one)
    return answer_of(rpc.id, rpc.method, reply)


NOT_YET = frozenset({Fault.ORDER_NOT_FOUND.code, Fault.TRANSACTION_NOT_FOUND.code})
"""A read's answers that may only mean "not committed yet": the order of a create the processor has not reached."""


def _conclusive(reply: GatewayReply) -> bool:
    """The ingress' own answer stands unless its read failed or found nothing: then the processor answers, as
    it did before the ingress read for itself (an order created a moment ago is as visible as it was then)."""
    if not reply.ok or not isinstance(reply.body, dict):
        return False
    error = reply.body.get("error")
    return not (isinstance(error, dict) and error.get("code") in NOT_YET)


def answer_of(request_id: RequestId, method: str, reply: GatewayReply) -> Response:
    """Payme's answer to a call from its reply, whether the processor or this ingress produced it."""
    body = reply.body if reply.ok and isinstance(reply.body, dict) else None
    if body is None or ("result" not in body and "error" not in body):
        log.warning("payme call failed", extra={"method": method, "error": reply.error})
        return _refuse(request_id, Fault.SYSTEM_ERROR)
    if "error" in body:
        return _answer({"jsonrpc": "2.0", "id": request_id, "result": None, "error": body["error"]})
    return _answer(success(request_id, body["result"]))


@router.api_route("/payme/{account_id}", methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def payme_not_post(account_id: str) -> Response:
    """Anything but POST is refused in Payme's own terms."""
    return _refuse(None, Fault.NOT_POST)


async def _read_here(host: IngressHost, call: GatewayCall) -> GatewayReply:
    """A read method answered by the ingress itself, as the processor would answer it over request-reply: the
    same code on the same committed rows, the body shaped by the same reply model (no broker round trip)."""
    try:
        body = await PaymeReads(host.reader, utc_now)(call)
    except Exception as exc:  # the processor answers any failure as a failed call; so does this
        return GatewayReply(ok=False, error=repr(exc)[:500])
    return GatewayReply.model_validate(GatewayReply(body=body).model_dump(mode="json"))


async def _account(host: IngressHost, account_id: str) -> GatewayAccount | None:
    try:
        wanted = uuid.UUID(account_id)
    except ValueError:
        return None  # a malformed id names no account: the caller cannot authenticate to it
    return await gateway_account(host, "payme", wanted)
