"""A provider's refusal reaches the tenant as a status and a code; the answer's text only reaches the log.

A tenant chooses its account's api_base: whatever a host there answers must not come back through the
transaction's `error_note` or a refund's `error`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe
from tenacity import wait_none

from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderRejected, answer_code
from shared.gateways.click.adapter import ClickAdapter, translate
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.merchant_api import MerchantAnswer, MerchantApi
from shared.gateways.octo.client import OctoClient
from shared.gateways.octo.payloads import encode, raise_for_error
from shared.gateways.stripe.adapter import refund_outcome
from shared.gateways.stripe.client import translate as stripe_translate
from shared.gateways.stripe.facts import RefundFacts

errors: Any = stripe  # some of the library's error constructors are untyped
LEAK = "root:x:0:0:root:/root:/bin/bash internal-token-7f3a"
CLICK = ClickConfig(service_id=1, merchant_id=2, merchant_user_id=3, secret_key="k", api_base="https://203.0.113.9/")


def refusing(status: int, body: bytes) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(status, content=body)))


async def test_octo_http_refusal_keeps_status_and_code_only() -> None:
    client = OctoClient(
        refusing(400, encode({"error": 2, "errMessage": LEAK})), "https://203.0.113.9", backoff=wait_none()
    )
    with pytest.raises(ProviderRejected) as refused:
        await client.post("/prepare_payment", {})
    assert refused.value.note == "octo refused /prepare_payment: HTTP 400, error 2"
    assert LEAK in str(refused.value), "the operators' log still gets the whole answer"


async def test_octo_refusal_with_a_text_body_keeps_the_status_only() -> None:
    client = OctoClient(refusing(403, LEAK.encode()), "https://203.0.113.9", backoff=wait_none())
    with pytest.raises(ProviderRejected) as refused:
        await client.post("/refund", {})
    assert refused.value.note == "octo refused /refund: HTTP 403"


@pytest.mark.parametrize(("error", "shown"), [(2, "2"), ("-7", "-7"), (LEAK, "unreadable")])
def test_octo_error_answers_show_the_code_never_the_message(error: object, shown: str) -> None:
    with pytest.raises(ProviderRejected) as refused:
        raise_for_error({"error": error, "errMessage": LEAK})
    assert refused.value.note == f"octo refused: error {shown}"


async def test_click_http_refusal_keeps_status_and_code_only() -> None:
    body = encode({"error_code": -401, "error_note": LEAK})
    api = MerchantApi(CLICK, transport=httpx.MockTransport(lambda _: httpx.Response(401, content=body)))
    with pytest.raises(ProviderRejected) as refused:
        await api.payment_status(5)
    assert refused.value.note == "click refused: HTTP 401, error -401"


def test_a_failed_click_payment_records_the_code_not_the_note() -> None:
    reported = translate(MerchantAnswer(error_code=0, error_note=LEAK, payment_id=5, payment_status=-5017))
    assert reported.status is TransactionStatus.FAILED
    assert reported.details == {"payment_status": -5017, "error_code": -5017}


async def test_a_refused_click_reversal_shows_the_code_not_the_note() -> None:
    def click(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(200, content=encode({"error_code": -17, "error_note": LEAK}))
        return httpx.Response(200, content=encode({"error_code": 0, "error_note": LEAK, "payment_status": 2}))

    adapter = ClickAdapter(api=lambda config: MerchantApi(config, transport=httpx.MockTransport(click)))
    account = GatewayAccount(uuid.uuid4(), uuid.uuid4(), "click", CLICK.model_dump())
    now = datetime.now(UTC)
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=account.tenant_id,
        account_id=account.id,
        gateway="click",
        money=Money.of(1_500_000, "UZS"),
        details={"click_paydoc_id": 5},
        metadata={},
        at=now,
        expires_at=now + timedelta(hours=1),
    )
    tx.complete(now)
    refund = tx.request_refund(refund_id=uuid.uuid4(), amount=tx.amount, reason=None, in_flight=0, at=now)

    outcome = await adapter.refund(account, tx, refund)

    assert not outcome.succeeded and outcome.error == "Click refused the reversal: error -17"


@pytest.mark.parametrize(
    ("code", "status", "note"),
    [("resource_missing", 404, "stripe refused the refund: HTTP 404, resource_missing"), (LEAK, 400, None)],
)
def test_stripe_refusals_show_status_and_code_never_the_message(code: str, status: int, note: str | None) -> None:
    translated = stripe_translate(errors.InvalidRequestError(LEAK, None, code=code, http_status=status), "the refund")
    assert isinstance(translated, ProviderRejected)
    assert translated.note == (note or f"stripe refused the refund: HTTP {status}")


def failed_refund(failure_reason: str) -> RefundFacts:
    return RefundFacts.of(
        {"id": "re_1", "amount": 100, "currency": "usd", "status": "failed", "failure_reason": failure_reason}
    )


def test_a_failed_stripe_refund_shows_a_reason_code_only() -> None:
    coded = refund_outcome(failed_refund("expired_or_canceled_card"))
    assert coded.error == "Stripe refund failed: expired_or_canceled_card"
    assert refund_outcome(failed_refund(LEAK)).error == "Stripe refund failed: no reason given"


@pytest.mark.parametrize(
    ("value", "shown"), [(2, "2"), ("E_12.x", "E_12.x"), (True, None), ("a b", None), (None, None)]
)
def test_only_short_tokens_count_as_codes(value: object, shown: str | None) -> None:
    assert answer_code(value) == shown
