"""The Transaction aggregate and its state machine, with no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from shared.domain.errors import InvalidAmount, RefundExceedsRemainder, TransitionNotAllowed
from shared.domain.events import EventType
from shared.domain.money import Money
from shared.domain.status import ALLOWED_TRANSITIONS, RefundStatus, TransactionStatus, can_transition
from shared.domain.transaction import Transaction

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def new(amount: int = 10_000, expires_at: datetime | None = None) -> Transaction:
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="cash",
        money=Money.of(amount, "UZS"),
        details={},
        metadata={"stage_id": "s1"},
        at=NOW,
        expires_at=expires_at,
    )
    return tx


def paid(amount: int = 10_000) -> Transaction:
    tx = new(amount)
    tx.complete(NOW)
    tx.changes.clear()
    return tx


def test_open_records_created_with_the_view() -> None:
    tx = new()
    assert tx.status is TransactionStatus.PENDING
    [change] = tx.changes
    assert change.event.type is EventType.TRANSACTION_CREATED and change.before is None
    assert change.event.data["metadata"] == {"stage_id": "s1"} and change.event.data["amount"] == 10_000


def test_open_refuses_zero() -> None:
    with pytest.raises(InvalidAmount):
        new(0)


TERMINAL = {TransactionStatus.FAILED, TransactionStatus.CANCELED, TransactionStatus.EXPIRED, TransactionStatus.REFUNDED}


def test_terminal_states_allow_nothing() -> None:
    for status in TransactionStatus:
        assert status.is_terminal() == (status in TERMINAL)
        if status in TERMINAL:
            assert ALLOWED_TRANSITIONS[status] == frozenset()


def test_only_documented_transitions_exist() -> None:
    documented = {
        ("pending", "completed"), ("pending", "failed"), ("pending", "canceled"), ("pending", "expired"),
        ("completed", "partially_refunded"), ("completed", "refunded"),
        ("partially_refunded", "partially_refunded"), ("partially_refunded", "refunded"),
    }  # fmt: skip
    for a, b in product(TransactionStatus, TransactionStatus):
        assert can_transition(a, b) == ((a.value, b.value) in documented), (a, b)


@pytest.mark.parametrize("move", ["complete", "fail", "cancel", "expire"])
def test_a_completed_payment_cannot_go_back(move: str) -> None:
    tx = paid()
    with pytest.raises(TransitionNotAllowed):
        getattr(tx, move)(NOW)
    assert tx.status is TransactionStatus.COMPLETED and tx.changes == []


def test_refunds_add_up_and_never_pass_the_amount() -> None:
    tx = paid(10_000)
    first = tx.request_refund(refund_id=uuid.uuid4(), amount=4_000, reason=None, in_flight=0, at=NOW)
    with pytest.raises(RefundExceedsRemainder):
        tx.request_refund(refund_id=uuid.uuid4(), amount=6_001, reason=None, in_flight=4_000, at=NOW)
    tx.settle_refund(first, NOW)
    assert tx.status is TransactionStatus.PARTIALLY_REFUNDED and tx.refunded_amount == 4_000
    rest = tx.request_refund(refund_id=uuid.uuid4(), amount=None, reason="rest", in_flight=0, at=NOW)
    assert rest.amount == 6_000
    tx.settle_refund(rest, NOW)
    assert tx.view()["status"] == "refunded" and tx.refunded_amount == 10_000
    kinds = [c.event.type for c in tx.changes]
    assert kinds.count(EventType.REFUND_SUCCEEDED) == 2 and kinds[-1] is EventType.TRANSACTION_REFUNDED
    with pytest.raises(TransitionNotAllowed):
        tx.request_refund(refund_id=uuid.uuid4(), amount=1, reason=None, in_flight=0, at=NOW)


def test_a_settled_refund_cannot_settle_twice() -> None:
    tx = paid()
    refund = tx.request_refund(refund_id=uuid.uuid4(), amount=100, reason=None, in_flight=0, at=NOW)
    tx.settle_refund(refund, NOW)
    with pytest.raises(TransitionNotAllowed):
        tx.settle_refund(refund, NOW)
    assert tx.refunded_amount == 100


@pytest.mark.parametrize("amount", [0, -5])
def test_refund_amounts_must_be_positive(amount: int) -> None:
    with pytest.raises(InvalidAmount):
        paid().request_refund(refund_id=uuid.uuid4(), amount=amount, reason=None, in_flight=0, at=NOW)


def test_a_failed_refund_changes_no_money() -> None:
    tx = paid()
    refund = tx.request_refund(refund_id=uuid.uuid4(), amount=100, reason=None, in_flight=0, at=NOW)
    tx.fail_refund(refund, "card closed", NOW)
    assert refund.status is RefundStatus.FAILED and tx.refunded_amount == 0
    assert tx.status is TransactionStatus.COMPLETED


def test_pending_cannot_be_refunded() -> None:
    with pytest.raises(TransitionNotAllowed):
        new().request_refund(refund_id=uuid.uuid4(), amount=1, reason=None, in_flight=0, at=NOW)


def test_delete_cancels_a_pending_payment_and_refuses_a_paid_one() -> None:
    tx = new()
    tx.delete(NOW)
    assert tx.status is TransactionStatus.CANCELED and tx.deleted_at == NOW
    assert [c.event.type for c in tx.changes][-2:] == [EventType.TRANSACTION_CANCELED, EventType.TRANSACTION_DELETED]
    with pytest.raises(TransitionNotAllowed):
        paid().delete(NOW)


def test_expiry() -> None:
    tx = new(expires_at=NOW + timedelta(seconds=10))
    assert not tx.is_expired(NOW) and tx.is_expired(NOW + timedelta(seconds=10))
    tx.expire(NOW)
    assert tx.status is TransactionStatus.EXPIRED


def test_update_records_an_event_only_on_change() -> None:
    tx = paid()
    tx.update(NOW, details={"rrn": "1"})
    tx.update(NOW, details={"rrn": "1"})
    assert [c.event.type for c in tx.changes] == [EventType.TRANSACTION_UPDATED]


def test_every_change_has_its_own_event_id() -> None:
    tx = paid()
    refund = tx.request_refund(refund_id=uuid.uuid4(), amount=10, reason=None, in_flight=0, at=NOW)
    tx.settle_refund(refund, NOW)
    ids = [c.event.id for c in tx.changes]
    assert len(ids) == len(set(ids)) == 3


def test_a_partial_capture_pays_only_what_was_captured() -> None:
    tx = new(10_000)
    tx.complete(NOW, {"rrn": "1"}, captured=7_000)
    assert tx.status is TransactionStatus.COMPLETED and tx.amount == 7_000
    assert tx.details["authorized_amount"] == 10_000
    [_, completed] = tx.changes
    assert completed.before is not None and completed.before["amount"] == 10_000
    assert completed.event.data["amount"] == 7_000, "consumers book what was paid"
    refund = tx.request_refund(refund_id=uuid.uuid4(), amount=None, reason=None, in_flight=0, at=NOW)
    assert refund.amount == 7_000
    tx.settle_refund(refund, NOW)
    assert tx.view()["status"] == "refunded"


@pytest.mark.parametrize("captured", [0, -1, 10_001])
def test_a_capture_outside_the_authorised_amount_is_refused(captured: int) -> None:
    tx = new(10_000)
    with pytest.raises(InvalidAmount):
        tx.complete(NOW, captured=captured)
    assert tx.status is TransactionStatus.PENDING and tx.amount == 10_000


def test_what_the_ingress_asks_before_sending_a_command() -> None:
    pending, completed = new(), paid(10_000)
    assert pending.may_be_deleted() and not pending.may_be_refunded()
    assert not completed.may_be_deleted() and completed.may_be_refunded()
    assert completed.refundable(in_flight=2_500) == 7_500
    assert completed.refundable(in_flight=10_001) == -1
    pending.delete(NOW)
    assert not pending.may_be_deleted() and not pending.can_move_to(TransactionStatus.COMPLETED)
