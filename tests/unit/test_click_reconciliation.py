"""Click as a reconciliation source: the record mapping, the amount read from the Merchant API, who is asked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.domain.money import Money
from shared.domain.reconciliation import ProviderRecord
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderUnavailable
from shared.gateways.click import ADAPTER
from shared.gateways.click.adapter import ClickAdapter
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.merchant_api import MerchantAnswer, MerchantApi
from shared.gateways.click.reconciliation import record_of, status_of
from shared.reconciliation.sources import ApiReconciliation, Period, ReferencePaths
from tests.support.reconciliation import Ledger

CREATED = datetime(2026, 3, 1, 7, 0, 0, tzinfo=UTC)
CONFIG = ClickConfig(
    service_id=12345, merchant_id=1, merchant_user_id=777, secret_key="TEST_SECRET_KEY", api_base="https://click.test/"
)
PERIOD = Period(CREATED, datetime(2026, 3, 31, tzinfo=UTC))
C, R, F, P = (
    TransactionStatus.COMPLETED,
    TransactionStatus.REFUNDED,
    TransactionStatus.FAILED,
    TransactionStatus.PENDING,
)


def order(status: TransactionStatus = C, paydoc: int | None = 3987654321, **details: Any) -> Transaction:
    ids = {} if paydoc is None else {"click_trans_id": 2854321987, "click_paydoc_id": paydoc}
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="click",
        money=Money.of(1_500_000, "UZS"),
        details={**ids, **details},
        metadata={},
        at=CREATED,
    )
    tx.status = status
    if status is R:
        tx.refunded_amount = tx.amount
    tx.changes.clear()
    return tx


@pytest.mark.parametrize(
    ("payment_status", "ours", "theirs"),
    [
        (2, C, C),
        (2, R, C),  # Click still has it paid although we reversed it: status_differs
        (-1, C, F),  # a negative status for a payment we did not reverse: Click does not count it as paid
        (-1, P, F),
        (-1, R, R),  # our reversal
        (-5017, R, R),
        (0, P, P),  # created
        (1, C, P),  # processing
        (7, C, None),  # a code this code does not know: not compared
        (None, C, None),
    ],
)
def test_clicks_status_in_ours(
    payment_status: int | None, ours: TransactionStatus, theirs: TransactionStatus | None
) -> None:
    assert status_of(payment_status, order(ours)) is theirs


def test_a_successful_payment_is_a_completed_record_with_clicks_ids_and_amount_in_tiyin() -> None:
    tx = order(merchant_trans_id="order-1001")
    answer = MerchantAnswer(0, "Success", 3987654321, 2, Decimal("15000.00"))

    assert record_of(tx, answer) == ProviderRecord(
        reference="2854321987",
        transaction_id=tx.id,
        amount=1_500_000,
        refunded_amount=None,  # Click states no refunded sum
        currency="UZS",
        status=C,
        merchant_reference="order-1001",
    )


def test_a_reversed_payment_gave_back_its_whole_amount_and_an_answer_without_amount_compares_none() -> None:
    reversed_ = record_of(order(R), MerchantAnswer(0, "Payment reversed", 1, -1, Decimal("14500")))
    no_amount = record_of(order(C), MerchantAnswer(0, "Success", 1, 2))

    assert reversed_ is not None and (reversed_.status, reversed_.amount, reversed_.refunded_amount) == (
        R,
        1_450_000,
        1_450_000,
    )
    assert no_amount is not None and (no_amount.amount, no_amount.currency, no_amount.refunded_amount) == (
        None,
        None,
        None,
    )


def test_our_transaction_id_is_the_order_reference_when_the_creator_gave_none() -> None:
    tx = order()

    record = record_of(tx, MerchantAnswer(0, "Success", 1, 2))

    assert record is not None and record.merchant_reference == str(tx.id)


def test_a_payment_click_does_not_know_gives_no_record() -> None:
    assert record_of(order(), MerchantAnswer(-16, "Payment not found")) is None


def test_an_amount_finer_than_a_tiyin_is_unreadable() -> None:
    with pytest.raises(ProviderUnavailable, match=r"amount 15000\.005"):
        record_of(order(), MerchantAnswer(0, "Success", 1, 2, Decimal("15000.005")))


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        (b'"amount": 15000.00', Decimal("15000.00")),  # read exactly, never through a float
        (b'"amount": "15000.10"', Decimal("15000.10")),
        (b'"amount": 15000', Decimal("15000")),
        (b'"amount": true', None),
        (b'"amount": "a lot"', None),
        (b'"amount": null', None),
        (b'"other": 1', None),
    ],
)
async def test_the_merchant_api_reads_the_amount_of_a_status_answer(raw: bytes, amount: Decimal | None) -> None:
    body = b'{"error_code": 0, "error_note": "Success", "payment_id": 1, "payment_status": 2, ' + raw + b"}"
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=body))

    answer = await MerchantApi(CONFIG, transport=transport).payment_status(1)

    assert (answer.payment_status, answer.amount) == (2, amount)
    assert answer.amount is None or str(answer.amount) == str(amount)


def test_the_adapter_is_an_api_source_with_reference_paths() -> None:
    assert isinstance(ADAPTER, ApiReconciliation) and isinstance(ADAPTER, ReferencePaths)
    account = GatewayAccount(uuid.uuid4(), uuid.uuid4(), "click", CONFIG.model_dump())
    assert ADAPTER.reference_paths(account) == (("click_trans_id",), ("merchant_trans_id",))


async def test_the_adapter_asks_about_payments_that_reached_click_by_their_paydoc_id() -> None:
    known, unknown, never_prepared = order(paydoc=11), order(paydoc=12), order(P, paydoc=None)
    asked: list[str] = []

    def click(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path.endswith("/11"):
            return httpx.Response(200, json={"error_code": 0, "error_note": "Success", "payment_status": 2})
        return httpx.Response(200, json={"error_code": -16, "error_note": "Payment not found"})

    adapter = ClickAdapter(api=lambda config: MerchantApi(config, transport=httpx.MockTransport(click)))
    account = GatewayAccount(known.account_id, known.tenant_id, "click", CONFIG.model_dump())

    records = [r async for r in adapter.reconciliation_records(account, PERIOD, Ledger(known, unknown, never_prepared))]

    assert [(r.transaction_id, r.status) for r in records] == [(known.id, C)]
    assert sorted(asked) == ["/payment/status/12345/11", "/payment/status/12345/12"]
