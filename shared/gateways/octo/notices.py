"""Octo's inbound wire format: the notify callback, and the answers we give it."""

from __future__ import annotations

import json
from decimal import Decimal
from enum import IntEnum
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.gateways.octo.payloads import decode, encode, major, sum_text


class MalformedNotice(Exception):
    """The body is not a notify callback Octo would send."""


class Notice(BaseModel):
    """A notify callback; unknown fields are ignored, since Octo adds fields over time."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    shop_transaction_id: str = Field(min_length=1, max_length=200)
    octo_payment_UUID: str = Field(min_length=1, max_length=200)
    status: str = Field(min_length=1, max_length=100)
    signature: str = Field(min_length=1, max_length=200)
    hash_key: str | None = Field(default=None, max_length=200)
    total_sum: Decimal | None = None
    transfer_sum: Decimal | None = None
    refunded_sum: Decimal | None = None
    card_country: str | None = Field(default=None, max_length=100)
    maskedPan: str | None = Field(default=None, max_length=100)
    rrn: str | None = Field(default=None, max_length=100)
    riskLevel: int | str | None = None
    payed_time: str | None = Field(default=None, max_length=100)
    card_type: str | None = Field(default=None, max_length=100)
    is_physical_card: bool | None = None
    card_vendor: str | None = Field(default=None, max_length=100)
    currency: str | None = Field(default=None, max_length=10)

    def details(self) -> dict[str, Any]:
        """The facts we keep in the transaction's details, under our names."""
        facts: dict[str, Any] = {
            "octo_payment_uuid": self.octo_payment_UUID,
            "status": self.status,
            "card_type": self.card_type,
            "card_country": self.card_country,
            "masked_pan": self.maskedPan,
            "rrn": self.rrn,
            "risk_level": _risk_level(self.riskLevel),
            "payed_time": self.payed_time,
            "card_vendor": self.card_vendor,
            "is_physical_card": self.is_physical_card,
            "total_sum": sum_text(self.total_sum),
            "transfer_sum": sum_text(self.transfer_sum),
            "refunded_sum": sum_text(self.refunded_sum),
        }
        return {name: value for name, value in facts.items() if value is not None}


def _risk_level(value: int | str | None) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else None


def read_notice(raw: bytes, content_type: str | None) -> Notice:
    """Octo posts JSON; a form-encoded body is read too, so a proxy that rewrites it does not lose a payment."""
    try:
        if content_type and content_type.startswith("application/x-www-form-urlencoded"):
            fields: Any = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        else:
            fields = decode(raw)
        return Notice.model_validate(fields)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedNotice("the body is not JSON") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise MalformedNotice(f"{where}: {first['msg']}") from None


class NotifyError(IntEnum):
    """Our `error` codes in Octo's JSON shape (`{"error": N, "errMessage": ...}`); any non-zero makes Octo resend."""

    MALFORMED = 1
    INVALID_SIGNATURE = 2
    UNKNOWN_ACCOUNT = 3
    UNKNOWN_PAYMENT = 4
    PAYMENT_MISMATCH = 5
    UNKNOWN_STATUS = 6
    TRY_AGAIN = 7


class NotifyVerdict(BaseModel):
    """The processor's answer to a verified notify, rendered into Octo's format by the ingress."""

    model_config = ConfigDict(extra="forbid")

    http_status: int = 200
    accept_status: Literal["capture", "cancel"] | None = None
    final_amount: int | None = Field(default=None, gt=0, description="minor units; only for a partial capture")
    currency: str | None = None
    error: NotifyError | None = None
    message: str | None = None


def render(verdict: NotifyVerdict) -> tuple[int, bytes]:
    """(HTTP status, body) for Octo: a capture decision, a plain acknowledgement, or a refusal it will resend."""
    if verdict.error is not None:
        return refusal(verdict.http_status, verdict.error, verdict.message or verdict.error.name.lower())
    if verdict.accept_status is None:
        return verdict.http_status, encode({"error": 0})
    body: dict[str, Any] = {"accept_status": verdict.accept_status}
    if verdict.final_amount is not None and verdict.currency:
        body["final_amount"] = major(verdict.final_amount, verdict.currency)
    return verdict.http_status, encode(body)


def refusal(http_status: int, error: NotifyError, message: str) -> tuple[int, bytes]:
    return http_status, encode({"error": int(error), "errMessage": message})
