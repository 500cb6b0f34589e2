"""Payme's JSON-RPC 2.0 wire format: the request, each method's params, Basic auth, the answer envelope."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from shared.gateways.payme.errors import Fault, PaymeError

LOGIN = "Paycom"
JSON_UTF8 = "application/json; charset=UTF-8"
RequestId = int | str | None


class Params(BaseModel):
    # Payme may add fields over time; what we do not know we do not need.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class CheckPerformParams(Params):
    amount: StrictInt
    account: dict[str, Any]


class CreateParams(Params):
    id: StrictStr = Field(min_length=1, max_length=64)
    time: StrictInt = Field(gt=0)
    amount: StrictInt
    account: dict[str, Any]


class IdParams(Params):
    id: StrictStr = Field(min_length=1, max_length=64)


class CancelParams(IdParams):
    reason: StrictInt


class StatementParams(Params):
    from_: StrictInt = Field(alias="from", ge=0)
    to: StrictInt = Field(ge=0)


class FiscalParams(IdParams):
    type: Literal["PERFORM", "CANCEL"]
    fiscal_data: dict[str, Any]


class PasswordParams(Params):
    password: StrictStr = Field(min_length=1, max_length=512)
    # Set by the ingress from the credential that authenticated the call, never taken from Payme's body.
    credential: Literal["key", "test_key"] = "key"


METHODS: dict[str, type[Params]] = {
    "CheckPerformTransaction": CheckPerformParams,
    "CreateTransaction": CreateParams,
    "PerformTransaction": IdParams,
    "CancelTransaction": CancelParams,
    "CheckTransaction": IdParams,
    "GetStatement": StatementParams,
    "SetFiscalData": FiscalParams,
    "ChangePassword": PasswordParams,
}


class RpcFailure(Exception):
    """A request refused before it reaches the processor, with the id to answer it under."""

    def __init__(self, request_id: RequestId, error: PaymeError) -> None:
        super().__init__(str(error))
        self.request_id = request_id
        self.error = error


@dataclass(frozen=True, slots=True)
class RpcRequest:
    id: int | str
    method: str
    params: dict[str, Any]


def parse_request(raw: bytes) -> RpcRequest:
    """The JSON-RPC envelope: -32700 when it is not JSON, -32600 for missing fields, -32601 for the method."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RpcFailure(None, PaymeError(Fault.PARSE_ERROR)) from None
    if not isinstance(body, dict):
        raise RpcFailure(None, PaymeError(Fault.INVALID_REQUEST))
    request_id = body.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        raise RpcFailure(None, PaymeError(Fault.INVALID_REQUEST, "id"))
    method, params = body.get("method"), body.get("params")
    if not isinstance(method, str):
        raise RpcFailure(request_id, PaymeError(Fault.INVALID_REQUEST, "method"))
    if not isinstance(params, dict):
        raise RpcFailure(request_id, PaymeError(Fault.INVALID_REQUEST, "params"))
    if method not in METHODS:
        raise RpcFailure(request_id, PaymeError(Fault.METHOD_NOT_FOUND, method))
    return RpcRequest(request_id, method, params)


def parse_params(method: str, params: dict[str, Any]) -> Params:
    """The method's params, checked; -32600 names the first bad field in `data`."""
    try:
        return METHODS[method].model_validate(params)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "params"
        raise PaymeError(Fault.INVALID_REQUEST, where) from None


def basic_header(key: str) -> str:
    """The Authorization header Payme sends for `key`."""
    return "Basic " + base64.b64encode(f"{LOGIN}:{key}".encode()).decode()


def authenticate(config: dict[str, Any], header: str | None) -> Literal["key", "test_key"] | None:
    """Which credential of the account the header carries (`key`, or `test_key` on a sandbox account), if any.

    On an account without `"sandbox": true` the test key is a wrong key: whoever holds the sandbox key
    cannot perform or cancel live payments with it.
    """
    password = _password(header)
    if password is None:
        return None
    # Both comparisons always run, in constant time, so the timing tells nothing about either key.
    matches_key = _same(password, config.get("key"))
    matches_test_key = _same(password, config.get("test_key"))
    if matches_key:
        return "key"
    return "test_key" if matches_test_key and config.get("sandbox") is True else None


def _password(header: str | None) -> bytes | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    login, colon, password = decoded.partition(b":")
    if not colon or not hmac.compare_digest(login, LOGIN.encode()):
        return None
    return password


def _same(password: bytes, configured: object) -> bool:
    expected = configured.encode() if isinstance(configured, str) and configured else b"\x00no key configured"
    return hmac.compare_digest(password, expected) and isinstance(configured, str) and bool(configured)


def success(request_id: RequestId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def failure(request_id: RequestId, error: PaymeError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": None, "error": error.body()}
