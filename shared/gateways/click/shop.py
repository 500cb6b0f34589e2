"""The SHOP API's wire format (Click calls us): fields, error codes, parsing the received strings, answers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any
from urllib.parse import parse_qsl

from shared.gateways.click.sign import complete_sign, prepare_sign, sign_matches


class Operation(StrEnum):
    PREPARE = "prepare"
    COMPLETE = "complete"

    @property
    def action(self) -> str:
        """The `action` value this endpoint accepts."""
        match self:
            case Operation.PREPARE:
                return "0"
            case Operation.COMPLETE:
                return "1"

    @property
    def id_field(self) -> str:
        """Our id in the answer: Prepare hands out a prepare id, Complete a confirm id."""
        match self:
            case Operation.PREPARE:
                return "merchant_prepare_id"
            case Operation.COMPLETE:
                return "merchant_confirm_id"


class ClickError(IntEnum):
    SUCCESS = 0
    SIGN_CHECK_FAILED = -1
    INCORRECT_AMOUNT = -2
    ACTION_NOT_FOUND = -3
    ALREADY_PAID = -4
    ORDER_NOT_FOUND = -5
    TRANSACTION_NOT_FOUND = -6
    FAILED_TO_UPDATE = -7
    BAD_REQUEST = -8
    TRANSACTION_CANCELLED = -9

    @property
    def note(self) -> str:
        return _NOTES[self]


_NOTES = {
    ClickError.SUCCESS: "Success",
    ClickError.SIGN_CHECK_FAILED: "SIGN CHECK FAILED!",
    ClickError.INCORRECT_AMOUNT: "Incorrect parameter amount",
    ClickError.ACTION_NOT_FOUND: "Action not found",
    ClickError.ALREADY_PAID: "Already paid",
    ClickError.ORDER_NOT_FOUND: "User does not exist",
    ClickError.TRANSACTION_NOT_FOUND: "Transaction does not exist",
    ClickError.FAILED_TO_UPDATE: "Failed to update user",
    ClickError.BAD_REQUEST: "Error in request from click",
    ClickError.TRANSACTION_CANCELLED: "Transaction cancelled",
}

PREPARE_FIELDS = (
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_trans_id",
    "amount",
    "action",
    "error",
    "error_note",
    "sign_time",
    "sign_string",
)
COMPLETE_FIELDS = (*PREPARE_FIELDS, "merchant_prepare_id")
MAY_BE_EMPTY = frozenset({"error_note"})
REPLY_BY = "reply_by"
"""Not a Click field: the ingress adds it to the call it hands the processor (the wall-clock time it stops waiting),
so a processor that gets there later rolls back instead of disagreeing with the -7 Click was already given."""

_ID = re.compile(r"[0-9]{1,19}")
_ERROR = re.compile(r"-?[0-9]{1,9}")
_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,10})?")
MAX_TEXT = 255


def required_fields(operation: Operation) -> tuple[str, ...]:
    match operation:
        case Operation.PREPARE:
            return PREPARE_FIELDS
        case Operation.COMPLETE:
            return COMPLETE_FIELDS


class BadRequest(ValueError):
    """The call cannot be understood (-8); the message says why."""


@dataclass(frozen=True, slots=True)
class ShopCall:
    """A Prepare or Complete, typed; `received` keeps the strings as they came (the sign is over those)."""

    operation: Operation
    received: Mapping[str, str]
    click_trans_id: int
    service_id: int
    click_paydoc_id: int
    merchant_trans_id: str
    amount: Decimal
    action: str
    error: int
    error_note: str
    sign_time: str
    merchant_prepare_id: int | None


def parse(operation: Operation, received: Mapping[str, str]) -> ShopCall:
    """Type the received strings or raise BadRequest; `action` is left as sent (an unknown one is -3, not -8)."""
    fields = required_fields(operation)
    missing = [name for name in fields if name not in received or (not received[name] and name not in MAY_BE_EMPTY)]
    if missing:
        raise BadRequest(f"missing {', '.join(missing)}")
    for name in ("click_trans_id", "service_id", "click_paydoc_id", "merchant_prepare_id"):
        if name in fields and not _ID.fullmatch(received[name]):
            raise BadRequest(f"{name} must be a non-negative integer")
    if not _ERROR.fullmatch(received["error"]) or int(received["error"]) > 0:
        raise BadRequest("error must be 0 or a negative integer")
    if not _AMOUNT.fullmatch(received["amount"]):
        raise BadRequest("amount must be a decimal number of sum")
    for name in ("merchant_trans_id", "error_note", "sign_time", "action"):
        if len(received[name]) > MAX_TEXT:
            raise BadRequest(f"{name} is longer than {MAX_TEXT} characters")
    return ShopCall(
        operation=operation,
        received=dict(received),
        click_trans_id=int(received["click_trans_id"]),
        service_id=int(received["service_id"]),
        click_paydoc_id=int(received["click_paydoc_id"]),
        merchant_trans_id=received["merchant_trans_id"],
        amount=Decimal(received["amount"]),
        action=received["action"],
        error=int(received["error"]),
        error_note=received["error_note"],
        sign_time=received["sign_time"],
        merchant_prepare_id=int(received["merchant_prepare_id"]) if operation is Operation.COMPLETE else None,
    )


def answer(
    operation: Operation,
    received: Mapping[str, Any],
    error: ClickError,
    merchant_id: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Click's answer body; the same five keys for successes and errors, ids echoed as Click sent them."""
    return {
        "click_trans_id": _echo_id(received.get("click_trans_id")),
        "merchant_trans_id": received.get("merchant_trans_id"),
        operation.id_field: merchant_id,
        "error": int(error),
        "error_note": note or error.note,
    }


def _echo_id(value: Any) -> int | str | None:
    if isinstance(value, str) and _ID.fullmatch(value):
        return int(value)
    return value if isinstance(value, str) else None


def read_fields(raw: bytes, content_type: str) -> dict[str, str]:
    """The received fields as strings: form-encoded, or JSON whose numbers keep their literal text (`15000.00`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    if "json" in content_type.lower() or text.lstrip().startswith("{"):
        return _json_fields(text)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), encoding="utf-8", errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not form-encoded") from None
    return _unique(pairs)


def _json_fields(text: str) -> dict[str, str]:
    def pairs_hook(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        return pairs

    try:
        # parse_float/parse_int keep numbers as sent: the sign is over `15000.00`, not over float 15000.0.
        pairs = json.loads(text, object_pairs_hook=pairs_hook, parse_float=str, parse_int=str)
    except ValueError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(pairs, list):
        raise BadRequest("the JSON body is not an object")
    fields: list[tuple[str, str]] = []
    for name, value in pairs:
        if value is None:
            continue  # null counts as absent
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be a string or a number")
        fields.append((name, value))
    return _unique(fields)


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadRequest(f"{name} is sent more than once")  # which one was signed would be a guess
        fields[name] = value
    return fields


def expected_sign(operation: Operation, received: Mapping[str, str], secret_key: str) -> str:
    """The sign Click computes for this endpoint, over the strings as received (`15000` and `15000.00` differ)."""
    common = {
        "click_trans_id": received["click_trans_id"],
        "service_id": received["service_id"],
        "merchant_trans_id": received["merchant_trans_id"],
        "amount": received["amount"],
        "action": received["action"],
        "sign_time": received["sign_time"],
    }
    match operation:
        case Operation.PREPARE:
            return prepare_sign(secret_key, **common)
        case Operation.COMPLETE:
            return complete_sign(secret_key, merchant_prepare_id=received["merchant_prepare_id"], **common)


def is_signed(call: ShopCall, secret_key: str) -> bool:
    return sign_matches(expected_sign(call.operation, call.received, secret_key), call.received["sign_string"])
