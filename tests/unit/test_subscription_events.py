"""Subscription facts told on the transaction that started the subscription."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.events import EventType
from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SUBSCRIPTION = {"id": "sub_1", "status": "trialing", "customer_id": "cus_1"}


def checkout() -> Transaction:
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="stripe",
        money=Money.of(1500, "USD"),
        details={"mode": "subscription"},
        metadata={"project_id": "p-1"},
        at=NOW,
    )
    tx.complete(NOW)
    tx.changes.clear()
    return tx


@pytest.mark.parametrize(
    "kind", [EventType.SUBSCRIPTION_CREATED, EventType.SUBSCRIPTION_UPDATED, EventType.SUBSCRIPTION_CANCELED]
)
def test_each_subscription_fact_is_one_event_with_the_transaction_and_the_subscription(kind: EventType) -> None:
    tx = checkout()
    later = NOW + timedelta(days=1)
    tx.note_subscription(kind, SUBSCRIPTION, later)
    [change] = tx.changes
    assert change.event.type is kind and change.action == kind.value
    assert change.event.subject == tx.id and change.event.tenant_id == tx.tenant_id
    assert change.event.data == {**tx.view(), "subscription": SUBSCRIPTION}
    assert change.event.data["metadata"] == {"project_id": "p-1"}, "project ids travel with subscription events"
    assert change.before is not None and change.before["updated_at"] == "2026-03-01T00:00:00Z"
    assert tx.updated_at == later


def test_the_payment_status_is_untouched_and_details_only_merge() -> None:
    tx = checkout()
    tx.note_subscription(EventType.SUBSCRIPTION_CANCELED, SUBSCRIPTION, NOW, {"subscription_status": "canceled"})
    assert tx.status is TransactionStatus.COMPLETED and tx.refunded_amount == 0
    assert tx.details == {"mode": "subscription", "subscription_status": "canceled"}


def test_an_earlier_moment_never_moves_updated_at_back() -> None:
    tx = checkout()
    tx.note_subscription(EventType.SUBSCRIPTION_UPDATED, SUBSCRIPTION, NOW - timedelta(hours=1))
    assert tx.updated_at == NOW


def test_the_snapshot_is_copied_not_shared() -> None:
    tx = checkout()
    snapshot = dict(SUBSCRIPTION)
    tx.note_subscription(EventType.SUBSCRIPTION_CREATED, snapshot, NOW)
    snapshot["status"] = "active"
    assert tx.changes[0].event.data["subscription"]["status"] == "trialing"


@pytest.mark.parametrize("kind", [EventType.TRANSACTION_COMPLETED, EventType.REFUND_SUCCEEDED])
def test_only_subscription_events_can_be_noted(kind: EventType) -> None:
    tx = checkout()
    with pytest.raises(ValueError, match="not a subscription event"):
        tx.note_subscription(kind, SUBSCRIPTION, NOW)
    assert tx.changes == [] and tx.updated_at == NOW
