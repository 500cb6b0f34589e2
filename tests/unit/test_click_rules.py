"""The processor's part of Click's check order (-5, -6, -4, -2, -9) on hand-built orders, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.gateways.click.rules import verdict
from shared.gateways.click.shop import ClickError, Operation, ShopCall, parse
from tests.support.click import PREPARE_VECTOR

NOW = datetime(2025, 5, 28, 12, 0, tzinfo=UTC)
FIELDS = {**PREPARE_VECTOR, "sign_string": "unchecked-here"}


def order(currency: str = "UZS", expires_at: datetime | None = None, **details: Any) -> Transaction:
    return Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="click",
        money=Money.of(1_500_000, currency),
        details={"merchant_trans_id": "order-1001", **details},
        metadata={},
        at=NOW,
        expires_at=expires_at,
    )


def prepared(**details: Any) -> Transaction:
    return order(click_trans_id=2854321987, merchant_prepare_id=5001, **details)


def prepare(**change: str) -> ShopCall:
    return parse(Operation.PREPARE, {**FIELDS, **change})


def complete(**change: str) -> ShopCall:
    return parse(Operation.COMPLETE, {**FIELDS, "action": "1", "merchant_prepare_id": "5001", **change})


def test_a_pending_order_with_the_right_amount_may_proceed() -> None:
    assert verdict(prepare(), order(), NOW) is ClickError.SUCCESS
    assert verdict(prepare(amount="15000"), order(), NOW) is ClickError.SUCCESS, "same amount, fewer decimals"
    assert verdict(complete(), prepared(), NOW) is ClickError.SUCCESS


def test_unknown_order_comes_first() -> None:
    assert verdict(complete(amount="1.00", merchant_prepare_id="1"), None, NOW) is ClickError.ORDER_NOT_FOUND


def test_unknown_prepare_id_comes_before_already_paid() -> None:
    paid = prepared()
    paid.complete(NOW)

    assert verdict(complete(merchant_prepare_id="5002"), paid, NOW) is ClickError.TRANSACTION_NOT_FOUND
    assert verdict(complete(click_trans_id="2854321988"), paid, NOW) is ClickError.TRANSACTION_NOT_FOUND
    assert verdict(complete(), order(), NOW) is ClickError.TRANSACTION_NOT_FOUND, "never prepared"


def test_already_paid_comes_before_a_wrong_amount() -> None:
    paid = prepared()
    paid.complete(NOW)

    assert verdict(complete(amount="1.00"), paid, NOW) is ClickError.ALREADY_PAID
    assert verdict(prepare(), paid, NOW) is ClickError.ALREADY_PAID


def test_a_wrong_amount_comes_before_canceled() -> None:
    failed = prepared()
    failed.fail(NOW)

    assert verdict(complete(amount="15000.01"), failed, NOW) is ClickError.INCORRECT_AMOUNT
    assert verdict(complete(), failed, NOW) is ClickError.TRANSACTION_CANCELLED


def test_amounts_are_compared_exactly_in_tiyin() -> None:
    assert verdict(prepare(amount="15000.01"), order(), NOW) is ClickError.INCORRECT_AMOUNT
    assert verdict(prepare(amount="14999.99"), order(), NOW) is ClickError.INCORRECT_AMOUNT
    assert verdict(prepare(amount="15000.001"), order(), NOW) is ClickError.INCORRECT_AMOUNT, "below one tiyin"
    assert verdict(prepare(), order(currency="USD"), NOW) is ClickError.INCORRECT_AMOUNT, "Click charges in sum"


def test_canceled_expired_and_deleted_orders_are_cancelled() -> None:
    canceled = order()
    canceled.cancel(NOW)
    deleted = order()
    deleted.delete(NOW)
    overdue = order(expires_at=NOW - timedelta(seconds=1))

    assert verdict(prepare(), canceled, NOW) is ClickError.TRANSACTION_CANCELLED
    assert verdict(prepare(), deleted, NOW) is ClickError.TRANSACTION_CANCELLED
    assert verdict(prepare(), overdue, NOW) is ClickError.TRANSACTION_CANCELLED, "an overdue order is not started"


def test_a_complete_of_an_attempt_prepared_in_time_still_lands() -> None:
    overdue = prepared()
    overdue.expires_at = NOW - timedelta(seconds=1)

    assert verdict(complete(), overdue, NOW) is ClickError.SUCCESS
