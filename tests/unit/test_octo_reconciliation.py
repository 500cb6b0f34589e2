"""Octo as a reconciliation source: the record mapping, who is asked, and the adapter over an in-process transport."""

from __future__ import annotations

import json
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
from shared.gateways.base import GatewayAccount, ProviderRejected, ProviderUnavailable
from shared.gateways.octo import ADAPTER
from shared.gateways.octo.adapter import OctoAdapter
from shared.gateways.octo.config import OctoConfig
from shared.gateways.octo.payloads import OctoPayment, parse_payment, payment_request
from shared.gateways.octo.reconciliation import record_of, worth_asking
from shared.reconciliation.sources import ApiReconciliation, Period, ReferencePaths
from tests.support.reconciliation import Ledger

CREATED = datetime(2026, 3, 1, 7, 0, 0, tzinfo=UTC)
CONFIG = OctoConfig(shop_id=42, secret="s3cret", unique_key="k", notify_url="https://billing.test/webhooks/octo/a")
PERIOD = Period(CREATED, datetime(2026, 3, 31, tzinfo=UTC))


def transaction(
    amount: int = 150_000,
    currency: str = "UZS",
    status: TransactionStatus = TransactionStatus.COMPLETED,
    **details: Any,
) -> Transaction:
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
    tx.status = status
    tx.changes.clear()
    return tx


def answer(tx: Transaction, status: Any = "succeeded", **fields: Any) -> OctoPayment:
    data = {
        "shop_transaction_id": str(tx.id),
        "octo_payment_UUID": "4556a13e-f763-4b91-9387-92395fd51ccf",
        "status": status,
        "total_sum": Decimal("1500.00"),
        "refunded_sum": Decimal("0"),
        **fields,
    }
    return parse_payment({"error": 0, "data": data})


def test_a_succeeded_payment_is_a_completed_record_in_minor_units_under_our_id() -> None:
    tx = transaction()

    assert record_of(tx, answer(tx)) == ProviderRecord(
        reference="4556a13e-f763-4b91-9387-92395fd51ccf",
        transaction_id=tx.id,
        amount=150_000,
        refunded_amount=0,
        currency=None,  # Octo's answer names none: not compared, never assumed
        status=TransactionStatus.COMPLETED,
        merchant_reference=str(tx.id),
    )


@pytest.mark.parametrize(
    ("status", "ours"),
    [
        ("created", TransactionStatus.PENDING),
        ("wait_user_action", TransactionStatus.PENDING),
        ("waiting_for_capture", TransactionStatus.PENDING),
        ("succeeded", TransactionStatus.COMPLETED),
        ("canceled", TransactionStatus.CANCELED),
        ("cancelled", TransactionStatus.CANCELED),
        ("failed", TransactionStatus.FAILED),
        ("SUCCEEDED", TransactionStatus.COMPLETED),
        ("refunded_somehow", None),  # a status this code does not know is not compared
        (None, None),
    ],
)
def test_statuses_go_through_the_translator(status: str | None, ours: TransactionStatus | None) -> None:
    tx = transaction()

    assert record_of(tx, answer(tx, status)).status is ours


@pytest.mark.parametrize(
    ("refunded_sum", "status"),
    [
        (Decimal("0.00"), TransactionStatus.COMPLETED),
        (Decimal("500.00"), TransactionStatus.PARTIALLY_REFUNDED),
        (Decimal("1500.00"), TransactionStatus.REFUNDED),
    ],
)
def test_money_given_back_makes_a_succeeded_payment_refunded(refunded_sum: Decimal, status: TransactionStatus) -> None:
    tx = transaction()

    record = record_of(tx, answer(tx, refunded_sum=refunded_sum))

    assert (record.status, record.refunded_amount) == (status, int(refunded_sum * 100))


def test_sums_follow_the_payments_currency_exponent_and_absent_sums_are_not_compared() -> None:
    yen = transaction(amount=1500, currency="JPY")
    dinar = transaction(amount=1_500_125, currency="KWD")
    bare = transaction()

    assert record_of(yen, answer(yen, total_sum=1500, refunded_sum=Decimal("10"))).amount == 1500
    dinar_record = record_of(dinar, answer(dinar, total_sum=Decimal("1500.125"), currency="kwd"))
    assert (dinar_record.amount, dinar_record.currency) == (1_500_125, "KWD")
    no_sums = record_of(bare, answer(bare, total_sum=None, refunded_sum=None))
    assert (no_sums.amount, no_sums.refunded_amount, no_sums.status) == (None, None, TransactionStatus.COMPLETED)


def test_a_sum_finer_than_the_currency_is_unreadable() -> None:
    tx = transaction()

    with pytest.raises(ProviderUnavailable, match=r"total_sum 1500\.005"):
        record_of(tx, answer(tx, total_sum=Decimal("1500.005")))


def test_only_payments_octo_can_know_are_asked_about() -> None:
    """Asking is prepare_payment, which creates what Octo does not have: never for a create that never got there."""
    assert worth_asking(transaction(octo_payment_uuid="u-1"))
    assert worth_asking(transaction(status=TransactionStatus.CANCELED, octo_payment_uuid="u-2"))
    assert worth_asking(transaction(status=TransactionStatus.PENDING)), "its create may have lost Octo's answer"
    assert not worth_asking(transaction(status=TransactionStatus.FAILED)), "a create Octo refused"
    assert not worth_asking(transaction(status=TransactionStatus.EXPIRED))


def test_the_adapter_is_an_api_source_with_reference_paths() -> None:
    assert isinstance(ADAPTER, ApiReconciliation) and isinstance(ADAPTER, ReferencePaths)
    account = GatewayAccount(uuid.uuid4(), uuid.uuid4(), "octo", CONFIG.model_dump())
    assert ADAPTER.reference_paths(account) == (("octo_payment_uuid",), ("shop_transaction_id",))


async def test_the_adapter_asks_with_the_create_request_and_skips_what_octo_refuses() -> None:
    known = transaction(octo_payment_uuid="4556a13e-f763-4b91-9387-92395fd51ccf")
    lost = transaction(amount=99_000, octo_payment_uuid="9d1f0c2e-0000-4000-8000-000000000000")
    refused_at_create = transaction(status=TransactionStatus.FAILED)
    bodies: list[dict[str, Any]] = []

    def octo(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content, parse_float=Decimal)
        bodies.append(body)
        if body["shop_transaction_id"] == str(lost.id):
            return httpx.Response(200, json={"error": 4, "errMessage": "payment not found"})
        data = {
            "shop_transaction_id": body["shop_transaction_id"],
            "octo_payment_UUID": known.details["octo_payment_uuid"],
            "status": "succeeded",
            "total_sum": str(body["total_sum"]),
            "refunded_sum": 0,
        }
        return httpx.Response(200, json={"error": 0, "data": data})

    adapter = OctoAdapter(http=httpx.AsyncClient(transport=httpx.MockTransport(octo)))
    account = GatewayAccount(known.account_id, known.tenant_id, "octo", CONFIG.model_dump())

    records = [r async for r in adapter.reconciliation_records(account, PERIOD, Ledger(known, lost, refused_at_create))]

    assert [(r.transaction_id, r.amount, r.status) for r in records] == [
        (known.id, 150_000, TransactionStatus.COMPLETED)
    ]
    assert sorted(b["shop_transaction_id"] for b in bodies) == sorted([str(known.id), str(lost.id)])
    asked = next(b for b in bodies if b["shop_transaction_id"] == str(known.id))
    assert asked == payment_request(CONFIG, known, "https://billing.test/webhooks/octo/a"), "the create, repeated"


async def test_an_http_refusal_fails_the_run_instead_of_reporting_payments_missing() -> None:
    tx = transaction(octo_payment_uuid="u-1")
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(403, text="forbidden")))
    adapter = OctoAdapter(http=http)
    account = GatewayAccount(tx.account_id, tx.tenant_id, "octo", CONFIG.model_dump())

    with pytest.raises(ProviderRejected, match="HTTP 403"):
        [r async for r in adapter.reconciliation_records(account, PERIOD, Ledger(tx))]
