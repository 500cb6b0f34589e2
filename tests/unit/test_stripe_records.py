"""Stripe's sessions and invoices as reconciliation records: our ids, minor units, ISO currency, our statuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.money import Money
from shared.domain.reconciliation import ProviderRecord
from shared.domain.status import TransactionStatus as S
from shared.domain.transaction import Transaction
from shared.gateways.stripe.facts import InvalidStripeObject
from shared.gateways.stripe.records import (
    invoice_record,
    is_paid_renewal,
    refund_hint,
    session_record,
    session_status,
)

OURS = uuid.uuid4()


def session(
    status: str = "complete",
    payment_status: str = "paid",
    *,
    intent: object = None,
    amount: int | None = 10_000,
    currency: str = "usd",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": "cs_test_1",
        "object": "checkout.session",
        "status": status,
        "payment_status": payment_status,
        "amount_total": amount,
        "currency": currency,
        "client_reference_id": str(OURS),
        "metadata": {"transaction_id": str(OURS)},
        "payment_intent": intent,
        **extra,
    }


def intent(status: str, refunded: int | None = 0) -> dict[str, Any]:
    charge = {"id": "ch_1", "object": "charge", "amount_refunded": refunded} if refunded is not None else "ch_1"
    return {"id": "pi_1", "object": "payment_intent", "status": status, "latest_charge": charge}


def test_a_paid_session_is_a_completed_payment_in_our_terms() -> None:
    assert session_record(session(intent=intent("succeeded")), refunded=0) == ProviderRecord(
        reference="cs_test_1",
        transaction_id=OURS,
        amount=10_000,
        refunded_amount=0,
        currency="USD",
        status=S.COMPLETED,
    )


@pytest.mark.parametrize(
    ("refunded", "status"),
    [(0, S.COMPLETED), (2500, S.PARTIALLY_REFUNDED), (10_000, S.REFUNDED)],
)
def test_refunds_make_a_paid_payment_partially_or_fully_refunded(refunded: int, status: S) -> None:
    record = session_record(session(intent=intent("succeeded", refunded)), refunded=refunded)
    assert (record.status, record.refunded_amount, record.amount) == (status, refunded, 10_000)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (session("open", "unpaid"), S.PENDING),
        (session("open", "unpaid", intent=intent("requires_payment_method")), S.PENDING),  # the customer may retry
        (session("expired", "unpaid"), S.EXPIRED),
        (session("complete", "unpaid", intent=intent("processing")), S.PENDING),  # an asynchronous method under way
        (session("complete", "unpaid", intent=intent("requires_payment_method")), S.FAILED),
        (session("complete", "unpaid", intent=intent("canceled")), S.FAILED),
        (session("complete", "no_payment_required"), S.CANCELED),  # a free trial, as the webhook records it
        (session("complete", "unpaid", intent="pi_not_expanded"), None),  # Stripe's list cannot tell
        (session("complete", "unpaid", invoice="in_1"), None),  # a subscription's payment on its way, or failed
    ],
)
def test_every_session_state_in_our_statuses(state: dict[str, Any], expected: S | None) -> None:
    assert session_status(state) is expected
    record = session_record(state, refunded=0)
    assert record.status is expected
    assert record.refunded_amount == (None if expected is None else 0), "refunds count only on money taken"


def test_nothing_charged_has_no_amount_to_compare() -> None:
    trial = session_record(session("complete", "no_payment_required", amount=0), refunded=0)
    assert trial.amount is None and trial.status is S.CANCELED


def test_amounts_follow_our_minor_units() -> None:
    yen = session_record(session(amount=5000, currency="jpy", intent=intent("succeeded")), refunded=1200)
    assert (yen.amount, yen.refunded_amount, yen.currency, yen.status) == (5000, 1200, "JPY", S.PARTIALLY_REFUNDED)
    krona = session_record(session(amount=1500, currency="isk", intent=intent("succeeded")), refunded=1500)
    assert (krona.amount, krona.refunded_amount, krona.status) == (15, 15, S.REFUNDED), "Stripe keeps ISK in 1/100"
    dinar = session_record(session(amount=12_340, currency="kwd", intent=intent("succeeded")), refunded=0)
    assert (dinar.amount, dinar.currency) == (12_340, "KWD")


def test_our_id_comes_from_the_session_else_matching_falls_back_to_the_session_id() -> None:
    by_metadata = session(client_reference_id=None)
    assert session_record(by_metadata, 0).transaction_id == OURS
    foreign = session(client_reference_id=None, metadata={})
    record = session_record(foreign, 0)
    assert record.transaction_id is None and record.reference == "cs_test_1"
    not_ours = session(client_reference_id="order-17", metadata={"transaction_id": "x"})
    assert session_record(not_ours, 0).transaction_id is None
    with pytest.raises(InvalidStripeObject):
        session_record({"object": "charge", "id": "ch_1"}, 0)


def test_only_a_charge_showing_a_refund_needs_the_refund_list() -> None:
    assert refund_hint(session(intent=intent("succeeded", 0))) is False
    assert refund_hint(session(intent=intent("succeeded", 300))) is True
    assert refund_hint(session(intent=intent("succeeded", None))) is None
    assert refund_hint(session(invoice="in_1")) is None


def invoice(status: str = "paid", **extra: Any) -> dict[str, Any]:
    return {
        "id": "in_1",
        "object": "invoice",
        "status": status,
        "amount_paid": 1500 if status == "paid" else 0,
        "amount_due": 1500,
        "currency": "eur",
        **extra,
    }


def test_a_renewal_is_read_from_its_invoice() -> None:
    tx_id = uuid.uuid4()
    paid = invoice_record(tx_id, invoice(), refunded=500)
    assert paid == ProviderRecord("in_1", tx_id, 1500, 500, "EUR", S.PARTIALLY_REFUNDED)
    assert invoice_record(tx_id, invoice("open"), 0).status is S.PENDING
    assert invoice_record(tx_id, invoice("open"), 0).amount == 1500, "the amount due when nothing is paid"
    assert invoice_record(tx_id, invoice("void"), 0).status is S.CANCELED
    assert invoice_record(tx_id, invoice("uncollectible"), 0).status is S.FAILED
    assert invoice_record(tx_id, invoice("mystery"), 0).status is None


def renewal(status: S, **details: Any) -> Transaction:
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="stripe",
        money=Money.of(1500, "EUR"),
        details=details,
        metadata={},
        at=datetime.now(UTC),
    )
    tx.status = status
    return tx


def test_paid_renewals_are_the_transactions_without_a_session() -> None:
    assert is_paid_renewal(renewal(S.COMPLETED, invoice_id="in_1", billing_reason="subscription_cycle"))
    assert is_paid_renewal(renewal(S.PARTIALLY_REFUNDED, invoice_id="in_1"))
    assert not is_paid_renewal(renewal(S.FAILED, invoice_id="in_1")), "a failed attempt moved no money"
    assert not is_paid_renewal(renewal(S.COMPLETED, invoice_id="in_1", session_id="cs_1")), "the checkout itself"
    assert not is_paid_renewal(renewal(S.COMPLETED, session_id="cs_1"))
