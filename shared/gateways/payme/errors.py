"""Payme's JSON-RPC errors: each code with its ru/uz/en message, which Payme may show to the payer."""

from __future__ import annotations

import json
from enum import Enum
from functools import cache
from importlib.resources import files
from typing import Any

LANGUAGES = ("ru", "uz", "en")


class Fault(Enum):
    """Every error this gateway answers: (Payme's code, the message key in locales/*.json)."""

    NOT_POST = (-32300, "not_post")
    PARSE_ERROR = (-32700, "parse_error")
    INVALID_REQUEST = (-32600, "invalid_request")
    METHOD_NOT_FOUND = (-32601, "method_not_found")
    UNAUTHORIZED = (-32504, "unauthorized")
    SYSTEM_ERROR = (-32400, "system_error")
    WRONG_AMOUNT = (-31001, "wrong_amount")
    TRANSACTION_NOT_FOUND = (-31003, "transaction_not_found")
    CANNOT_CANCEL = (-31007, "cannot_cancel")
    CANNOT_PERFORM = (-31008, "cannot_perform")
    TRANSACTION_EXPIRED = (-31008, "transaction_expired")
    # Account errors (-31050..-31099) carry the account field's name in `data`.
    ORDER_NOT_FOUND = (-31050, "order_not_found")
    ORDER_BUSY = (-31051, "order_busy")
    ORDER_PAID = (-31052, "order_paid")
    ORDER_CLOSED = (-31053, "order_closed")

    @property
    def code(self) -> int:
        return self.value[0]

    @property
    def key(self) -> str:
        return self.value[1]


@cache
def _catalog(language: str) -> dict[str, str]:
    text = files("shared.gateways.payme").joinpath("locales", f"{language}.json").read_text(encoding="utf-8")
    catalog: dict[str, str] = json.loads(text)
    return catalog


def messages(fault: Fault) -> dict[str, str]:
    """The fault's message in every language Payme asks for."""
    return {language: _catalog(language)[fault.key] for language in LANGUAGES}


class PaymeError(Exception):
    """A refusal in Payme's terms; it becomes the JSON-RPC `error` member."""

    def __init__(self, fault: Fault, data: Any = None) -> None:
        super().__init__(f"{fault.code} {fault.key}")
        self.fault = fault
        self.data = data

    def body(self) -> dict[str, Any]:
        return {"code": self.fault.code, "message": messages(self.fault), "data": self.data}
