"""Octo's wire format, retry policy and capture decisions, with an in-process transport (no network)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tenacity import wait_none

from shared.domain.errors import InvalidAmount, TransitionNotAllowed
from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderRejected, ProviderUnavailable
from shared.gateways.octo import decisions
from shared.gateways.octo.adapter import OctoAdapter
from shared.gateways.octo.client import OctoClient
from shared.gateways.octo.config import OctoConfig
from shared.gateways.octo.notices import NotifyError, NotifyVerdict, read_notice, render
from shared.gateways.octo.payloads import MalformedAnswer, decode, encode, parse_payment, payment_request

CREATED = datetime(2025, 5, 28, 7, 0, 0, tzinfo=UTC)
CONFIG = OctoConfig(shop_id=42, secret="s3cret", unique_key="k", auto_capture=False, test=True, language="uz")


def pending(amount: int = 1_500_000, currency: str = "UZS", **details: Any) -> Transaction:
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="octo",
        money=Money.of(amount, currency),
        details=details,
        metadata={},
        at=CREATED,
    )
    tx.changes.clear()
    return tx


def test_prepare_payment_carries_every_field_from_the_transaction_and_the_account() -> None:
    tx = pending(description="Order 1001", basket=[{"position_desc": "Tea", "count": 1, "price": 15000}], ttl=30)

    body = payment_request(CONFIG, tx, "https://billing.example/webhooks/octo/a")

    assert body == {
        "octo_shop_id": 42,
        "octo_secret": "s3cret",
        "shop_transaction_id": str(tx.id),
        "auto_capture": False,
        "test": True,
        "init_time": "2025-05-28 12:00:00",  # Tashkent time, UTC+5
        "total_sum": Decimal("15000.00"),
        "currency": "UZS",
        "description": "Order 1001",
        "notify_url": "https://billing.example/webhooks/octo/a",
        "basket": [{"position_desc": "Tea", "count": 1, "price": 15000}],
        "language": "uz",
        "ttl": 30,
    }
    assert payment_request(CONFIG, tx, "https://billing.example/webhooks/octo/a") == body, "a repeat is identical"


@pytest.mark.parametrize(
    ("amount", "currency", "text"), [(1, "UZS", "0.01"), (1500, "JPY", "1500"), (7, "KWD", "0.007")]
)
def test_sums_are_exact_decimal_numbers_in_the_json(amount: int, currency: str, text: str) -> None:
    raw = encode(payment_request(CONFIG, pending(amount, currency), "http://x"))

    assert f'"total_sum":{text},' in raw.decode()
    assert decode(raw)["total_sum"] == Decimal(text)


PAYMENT = {
    "shop_transaction_id": "t-1",
    "octo_payment_UUID": "u-1",
    "status": "created",
    "octo_pay_url": "https://pay.octo.uz/u-1",
    "total_sum": Decimal("15000.00"),
    "refunded_sum": 0,
}


@pytest.mark.parametrize("answer", [{"error": 0, "data": PAYMENT}, {"error": 0, **PAYMENT}], ids=["data", "top-level"])
def test_both_answer_shapes_are_read(answer: dict[str, Any]) -> None:
    payment = parse_payment(answer)

    assert (payment.payment_uuid, payment.pay_url, payment.raw_status) == ("u-1", "https://pay.octo.uz/u-1", "created")
    assert payment.details() == {
        "octo_payment_uuid": "u-1",
        "status": "created",
        "total_sum": "15000.00",
        "refunded_sum": "0",
    }


def test_an_error_answer_is_a_refusal_and_a_shapeless_one_is_unreadable() -> None:
    with pytest.raises(ProviderRejected, match="Octo error 2: wrong secret"):
        parse_payment({"error": 2, "errMessage": "wrong secret"})
    with pytest.raises(MalformedAnswer):
        parse_payment({"data": PAYMENT})
    with pytest.raises(MalformedAnswer):
        parse_payment({"error": 0, "data": {"status": "created"}})


Reply = Callable[[httpx.Request], httpx.Response]


def client_answering(*replies: Reply | type[Exception]) -> tuple[OctoClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = replies[min(len(seen), len(replies)) - 1]
        if isinstance(reply, type):
            raise reply("boom")
        return reply(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return OctoClient(http, "https://octo.test", attempts=4, backoff=wait_none()), seen


def status(code: int) -> Reply:
    return lambda request: httpx.Response(code, content=encode({"error": 0, "data": PAYMENT}))


async def test_timeouts_5xx_and_429_are_retried_then_the_answer_is_returned() -> None:
    client, seen = client_answering(httpx.ReadTimeout, status(503), status(429), status(200))

    answer = await client.post("/prepare_payment", {"total_sum": Decimal("1.00")})

    assert answer["data"]["octo_payment_UUID"] == "u-1" and len(seen) == 4
    assert {decode(r.content)["total_sum"] for r in seen} == {Decimal("1.00")}, "the same exact body each time"


async def test_retries_are_bounded() -> None:
    client, seen = client_answering(status(502))

    with pytest.raises(ProviderUnavailable, match="HTTP 502 after 4 attempts"):
        await client.post("/prepare_payment", {})
    assert len(seen) == 4


@pytest.mark.parametrize("code", [400, 401, 404, 409, 422])
async def test_a_4xx_is_never_retried(code: int) -> None:
    client, seen = client_answering(status(code))

    with pytest.raises(ProviderRejected, match=f"HTTP {code}"):
        await client.post("/refund", {})
    assert len(seen) == 1


async def test_a_connection_failure_is_left_to_the_message_level_retry() -> None:
    client, seen = client_answering(httpx.ConnectError)

    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await client.post("/prepare_payment", {})
    assert len(seen) == 1


def held(amount: int = 10_000, **details: Any) -> Transaction:
    return pending(amount, "UZS", octo_payment_uuid="u-1", status="waiting_for_capture", **details)


def test_a_capture_is_decided_once_and_within_the_amount() -> None:
    tx = held()

    assert decisions.awaits_decision(tx.status, tx.details)
    assert decisions.decide(tx, capture=True, amount=6_000) == {"accept_status": "capture", "final_amount": 6_000}
    for wrong in (0, -1, 10_001):
        with pytest.raises(InvalidAmount):
            decisions.decide(tx, capture=True, amount=wrong)
    tx.details.update(decisions.decide(tx, capture=True, amount=6_000))
    assert decisions.decision_unsent(tx) and not decisions.awaits_decision(tx.status, tx.details)
    with pytest.raises(TransitionNotAllowed, match="capturing"):
        decisions.decide(tx, capture=False, amount=None)


def test_a_release_is_recorded_only_for_a_held_payment() -> None:
    assert decisions.decide(held(), capture=False, amount=None) == {"accept_status": "cancel"}
    assert decisions.decide(pending(octo_payment_uuid="u-1", status="created"), capture=False, amount=None) == {}
    with pytest.raises(TransitionNotAllowed):
        decisions.decide(pending(octo_payment_uuid="u-1", status="created"), capture=True, amount=None)


def test_the_waiting_notify_answer_follows_our_state() -> None:
    tx = held()
    assert decisions.on_waiting_notify(tx, capture_on_notify=True) == ("capture", None)
    assert decisions.on_waiting_notify(tx, capture_on_notify=False) is None
    tx.details.update(decisions.decide(tx, capture=True, amount=2_500))
    assert decisions.on_waiting_notify(tx, capture_on_notify=False) == ("capture", 2_500)
    canceled = held()
    canceled.status = TransactionStatus.CANCELED
    assert decisions.on_waiting_notify(canceled, capture_on_notify=True) == ("cancel", None)


def test_our_answers_are_in_octos_shape() -> None:
    assert render(NotifyVerdict()) == (200, b'{"error":0}')
    capture = NotifyVerdict(accept_status="capture", final_amount=250_050, currency="UZS")
    assert render(capture) == (200, b'{"accept_status":"capture","final_amount":2500.50}')
    refused = NotifyVerdict(http_status=401, error=NotifyError.INVALID_SIGNATURE, message="no")
    assert render(refused) == (401, b'{"error":2,"errMessage":"no"}')


def test_a_notice_is_read_from_json_or_a_form() -> None:
    fields = {"shop_transaction_id": "t", "octo_payment_UUID": "u", "status": "succeeded", "signature": "S"}
    as_json = read_notice(json.dumps({**fields, "maskedPan": "8600**1", "riskLevel": "2"}).encode(), None)
    as_form = read_notice(b"shop_transaction_id=t&octo_payment_UUID=u&status=succeeded&signature=S", FORM)

    assert as_json.details() == {
        "octo_payment_uuid": "u",
        "status": "succeeded",
        "masked_pan": "8600**1",
        "risk_level": 2,
    }
    assert as_form.details() == {"octo_payment_uuid": "u", "status": "succeeded"}


FORM = "application/x-www-form-urlencoded"


async def test_a_refund_past_a_partial_capture_is_refused_without_a_call() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    adapter = OctoAdapter(public_url="http://billing.test", http=http)
    tx = held(10_000, accept_status="capture", final_amount=6_000)
    tx.status, tx.refunded_amount = TransactionStatus.PARTIALLY_REFUNDED, 5_000
    account = GatewayAccount(tx.account_id, tx.tenant_id, "octo", CONFIG.model_dump())
    refund = tx.request_refund(refund_id=uuid.uuid4(), amount=1_001, reason=None, in_flight=0, at=CREATED)

    outcome = await adapter.refund(account, tx, refund)

    assert not outcome.succeeded and outcome.error == "exceeds what Octo captured: 1000 left of 6000"
    assert seen == []
