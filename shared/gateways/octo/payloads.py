"""Octo's outbound wire format: the bodies we send and the answers we read back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.gateways.base import ProviderRejected, answer_code
from shared.gateways.octo.config import OctoConfig
from shared.gateways.octo.statuses import OctoStatus, parse_status

# Octo runs on Tashkent time (UTC+5, no daylight saving); init_time is a local wall-clock time.
OCTO_TIME_ZONE = timezone(timedelta(hours=5), "Asia/Tashkent")
INIT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
OPTIONAL_DETAILS = ("user_data", "basket", "payment_methods")


class MalformedAnswer(Exception):
    """Octo answered something we cannot read; not a refusal, so it is worth asking again."""


def encode(value: Any) -> bytes:
    """JSON with Decimal amounts written as exact numbers: money never passes through a float."""
    return _encode(value).encode()


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def decode(raw: bytes) -> Any:
    """Octo's JSON with decimals read as Decimal (never float)."""
    return json.loads(raw, parse_float=Decimal)


def major(minor: int, currency: str) -> Decimal:
    """An amount in Octo's major units with exactly the currency's decimals: 1500000 UZS -> 15000.00."""
    return Decimal(Money.of(minor, currency).major_str())


def init_time(at: datetime) -> str:
    return at.astimezone(OCTO_TIME_ZONE).strftime(INIT_TIME_FORMAT)


def credentials(config: OctoConfig) -> dict[str, Any]:
    return {"octo_shop_id": config.shop_id, "octo_secret": config.secret}


def payment_request(config: OctoConfig, tx: Transaction, notify_url: str) -> dict[str, Any]:
    """prepare_payment's body; built only from stored facts, so a repeat (the status check) is identical."""
    details = tx.details
    body: dict[str, Any] = {
        **credentials(config),
        "shop_transaction_id": str(tx.id),  # always our id: Octo's idempotency key
        "auto_capture": config.auto_capture,
        "test": config.test,
        "init_time": init_time(tx.created_at),
        "total_sum": major(tx.amount, tx.currency),
        "currency": tx.currency,
        "description": details.get("description") or f"Payment {tx.id}",
        "notify_url": notify_url,
    }
    optional = {name: details.get(name) for name in OPTIONAL_DETAILS}
    optional["return_url"] = details.get("return_url") or config.return_url
    optional["language"] = details.get("language") or config.language
    optional["ttl"] = details.get("ttl") or config.ttl
    body.update({name: value for name, value in optional.items() if value is not None})
    return body


def refund_request(config: OctoConfig, payment_uuid: str, refund_id: str, amount: Decimal) -> dict[str, Any]:
    return {
        **credentials(config),
        "octo_payment_UUID": payment_uuid,
        "shop_refund_id": refund_id,  # our refund id: Octo's idempotency key
        "amount": amount,
    }


def accept_request(
    config: OctoConfig, payment_uuid: str, accept_status: str, final_amount: Decimal | None
) -> dict[str, Any]:
    body: dict[str, Any] = {**credentials(config), "octo_payment_UUID": payment_uuid, "accept_status": accept_status}
    if final_amount is not None:
        body["final_amount"] = final_amount
    return body


def raise_for_error(answer: Mapping[str, Any]) -> None:
    """Octo's `error` other than 0 is its definitive refusal; an answer without `error` is unreadable."""
    error = answer.get("error")
    if error is None:
        raise MalformedAnswer("Octo's answer has no `error` field")
    if str(error).strip() != "0":
        message = answer.get("errMessage") or answer.get("errorMessage") or answer.get("message") or ""
        code = answer_code(error) or "unreadable"
        raise ProviderRejected(
            f"Octo error {error}: {str(message)[:300]}".rstrip(": "), note=f"octo refused: error {code}"
        )


def payload_of(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """Current answers nest their fields in `data`; older ones put them at the top level."""
    data = answer.get("data")
    return data if isinstance(data, Mapping) else answer


@dataclass(frozen=True, slots=True)
class OctoPayment:
    payment_uuid: str
    shop_transaction_id: str | None
    raw_status: str | None
    status: OctoStatus | None
    pay_url: str | None
    total_sum: str | None
    refunded_sum: str | None
    currency: str | None = None  # not in every answer; kept out of details (the transaction has its currency)

    def details(self) -> dict[str, Any]:
        """The facts we keep in the transaction's details."""
        facts = {
            "octo_payment_uuid": self.payment_uuid,
            "status": self.raw_status,
            "total_sum": self.total_sum,
            "refunded_sum": self.refunded_sum,
        }
        return {name: value for name, value in facts.items() if value is not None}


def parse_payment(answer: Mapping[str, Any]) -> OctoPayment:
    raise_for_error(answer)
    data = payload_of(answer)
    payment_uuid = data.get("octo_payment_UUID")
    if not isinstance(payment_uuid, str) or not payment_uuid:
        raise MalformedAnswer("Octo's payment answer has no octo_payment_UUID")
    raw_status = data.get("status")
    return OctoPayment(
        payment_uuid=payment_uuid,
        shop_transaction_id=_text(data.get("shop_transaction_id")),
        raw_status=_text(raw_status),
        status=parse_status(raw_status),
        pay_url=_text(data.get("octo_pay_url")),
        total_sum=sum_text(data.get("total_sum")),
        refunded_sum=sum_text(data.get("refunded_sum")),
        currency=_currency(data.get("currency")),
    )


def sum_text(value: object) -> str | None:
    """An Octo sum as exact decimal text (how details keep it), or None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except ArithmeticError:
        return None
    return format(number, "f") if number.is_finite() else None


def _currency(value: object) -> str | None:
    return (value.strip().upper() or None) if isinstance(value, str) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
