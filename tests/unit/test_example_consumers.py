"""The example consumers of billing.events: totals per currency, paid stages, duplicates changing nothing."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from examples.consumers.finance import FinanceLedger
from examples.consumers.projects import ProjectStages

TENANT = str(uuid.uuid4())


def transaction(
    amount: int, currency: str = "UZS", *, refunded: int = 0, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The transaction as the API shows it (the `data` of an event)."""
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": TENANT,
        "account_id": str(uuid.uuid4()),
        "gateway": "cash",
        "status": "completed",
        "amount": amount,
        "refunded_amount": refunded,
        "currency": currency,
        "details": {},
        "metadata": metadata or {},
        "payment_url": None,
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
    }


def event(kind: str, data: dict[str, Any], tenant: str = TENANT) -> dict[str, Any]:
    """A CloudEvents envelope as billing publishes it on billing.events."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "billing",
        "type": f"billing.{kind}",
        "time": "2025-01-01T00:00:00Z",
        "subject": data["id"],
        "tenantid": tenant,
        "datacontenttype": "application/json",
        "data": data,
    }


def with_status(tx: dict[str, Any], status: str, refunded: int) -> dict[str, Any]:
    return {**tx, "status": status, "refunded_amount": refunded}


def refund_event(kind: str, tx: dict[str, Any], amount: int, refunded: int) -> dict[str, Any]:
    status = "refunded" if refunded == tx["amount"] else "partially_refunded"
    refund = {"id": str(uuid.uuid4()), "transaction_id": tx["id"], "amount": amount, "status": "succeeded"}
    return event(kind, {**with_status(tx, status, refunded), "refund": refund})


def settle_refund(tx: dict[str, Any], amount: int, refunded: int) -> list[dict[str, Any]]:
    """The two events billing emits when a refund succeeds: the refund's, then the transaction's."""
    status = "refunded" if refunded == tx["amount"] else "partially_refunded"
    return [
        refund_event("refund.succeeded", tx, amount, refunded),
        refund_event(f"transaction.{status}", tx, amount, refunded),
    ]


# --- finance ---------------------------------------------------------------------------------------


def test_completed_payments_count_in_per_currency() -> None:
    ledger = FinanceLedger()
    for data in (transaction(150_000, "UZS"), transaction(2_500, "USD"), transaction(50_000, "UZS")):
        assert ledger.apply(event("transaction.completed", data))
    assert ledger.totals() == {
        "USD": {"in": 2_500, "out": 0, "net": 2_500},
        "UZS": {"in": 200_000, "out": 0, "net": 200_000},
    }


def test_a_duplicate_event_changes_nothing() -> None:
    ledger = FinanceLedger()
    tx = transaction(10_000, "JPY")
    completed = event("transaction.completed", tx)
    refund = refund_event("refund.succeeded", tx, 4_000, 4_000)
    assert ledger.apply(completed)
    assert ledger.apply(refund)
    before = ledger.totals()
    assert not ledger.apply(copy.deepcopy(completed))
    assert not ledger.apply(copy.deepcopy(refund))
    assert ledger.totals() == before == {"JPY": {"in": 10_000, "out": 4_000, "net": 6_000}}


def test_refunds_count_out_once_each_and_only_from_the_refund_event() -> None:
    ledger = FinanceLedger()
    tx = transaction(1_000, "KWD")
    ledger.apply(event("transaction.completed", tx))
    for moved in [*settle_refund(tx, 300, 300), *settle_refund(tx, 700, 1_000)]:
        assert ledger.apply(moved)
    assert ledger.totals() == {"KWD": {"in": 1_000, "out": 1_000, "net": 0}}


def test_events_that_move_no_money_are_applied_without_effect() -> None:
    ledger = FinanceLedger()
    tx = transaction(9_900, "USD")
    for kind in ("transaction.created", "transaction.canceled", "refund.requested", "refund.failed"):
        assert ledger.apply(event(kind, tx))
    assert ledger.totals() == {}


def test_a_ledger_for_one_tenant_ignores_the_others() -> None:
    ledger = FinanceLedger(tenant_id=TENANT)
    ledger.apply(event("transaction.completed", transaction(700, "USD")))
    ledger.apply(event("transaction.completed", transaction(9_000, "USD"), tenant=str(uuid.uuid4())))
    assert ledger.totals() == {"USD": {"in": 700, "out": 0, "net": 700}}


@pytest.mark.parametrize("amount", [10.5, "100", True, -1, None])
def test_a_malformed_amount_is_refused_and_changes_nothing(amount: object) -> None:
    ledger = FinanceLedger()
    bad = event("transaction.completed", {**transaction(0), "amount": amount})
    with pytest.raises(ValueError, match=r"data\.amount"):
        ledger.apply(bad)
    assert ledger.totals() == {}
    # Not remembered as seen: once fixed upstream, a redelivery with the same id still counts.
    assert ledger.apply({**bad, "data": {**bad["data"], "amount": 100}})
    assert ledger.totals() == {"UZS": {"in": 100, "out": 0, "net": 100}}


def test_an_event_without_an_id_is_refused() -> None:
    ledger = FinanceLedger()
    with pytest.raises(ValueError, match="id"):
        ledger.apply({k: v for k, v in event("transaction.completed", transaction(1)).items() if k != "id"})


# --- projects --------------------------------------------------------------------------------------


def stage_payment(stage_id: str, amount: int = 500_000) -> dict[str, Any]:
    return transaction(amount, metadata={"project_id": "p-1", "stage_id": stage_id})


def test_a_completed_payment_marks_its_stage_paid_by_that_transaction() -> None:
    stages = ProjectStages()
    tx = stage_payment("stage-1")
    assert not stages.is_paid("stage-1")
    assert stages.apply(event("transaction.created", {**tx, "status": "pending"}))
    assert not stages.is_paid("stage-1")
    assert stages.apply(event("transaction.completed", tx))
    assert stages.is_paid("stage-1")
    assert stages.paid_by("stage-1") == tx["id"]
    assert stages.paid() == {"stage-1": tx["id"]}
    assert not stages.is_paid("stage-2")


def test_a_full_refund_unpays_the_stage_a_partial_one_does_not() -> None:
    stages = ProjectStages()
    tx = stage_payment("stage-1", 1_000)
    stages.apply(event("transaction.completed", tx))
    for moved in settle_refund(tx, 400, 400):
        stages.apply(moved)
    assert stages.is_paid("stage-1")
    assert stages.paid_by("stage-1") == tx["id"]
    for moved in settle_refund(tx, 600, 1_000):
        stages.apply(moved)
    assert not stages.is_paid("stage-1")
    assert stages.paid_by("stage-1") is None
    assert stages.paid() == {}


def test_a_duplicate_event_changes_nothing_for_stages() -> None:
    stages = ProjectStages()
    tx = stage_payment("stage-1")
    completed = event("transaction.completed", tx)
    refunded = refund_event("transaction.refunded", tx, tx["amount"], tx["amount"])
    stages.apply(completed)
    stages.apply(refunded)
    assert not stages.apply(copy.deepcopy(completed))
    assert not stages.is_paid("stage-1")
    assert not stages.apply(copy.deepcopy(refunded))
    assert not stages.is_paid("stage-1")


def test_a_completion_delivered_after_the_full_refund_does_not_revive_the_payment() -> None:
    stages = ProjectStages()
    tx = stage_payment("stage-1")
    stages.apply(refund_event("transaction.refunded", tx, tx["amount"], tx["amount"]))
    stages.apply(event("transaction.completed", tx))
    assert not stages.is_paid("stage-1")


def test_refunding_a_second_payment_keeps_the_stage_paid_by_the_first() -> None:
    stages = ProjectStages()
    first, second = stage_payment("stage-1"), stage_payment("stage-1")
    stages.apply(event("transaction.completed", first))
    stages.apply(event("transaction.completed", second))
    stages.apply(refund_event("transaction.refunded", second, second["amount"], second["amount"]))
    assert stages.is_paid("stage-1")
    assert stages.paid_by("stage-1") == first["id"]


def test_transactions_without_a_stage_and_other_tenants_are_ignored() -> None:
    stages = ProjectStages(tenant_id=TENANT)
    assert stages.apply(event("transaction.completed", transaction(100, metadata={"project_id": "p-1"})))
    assert stages.apply(event("transaction.completed", stage_payment("stage-9"), tenant=str(uuid.uuid4())))
    assert stages.paid() == {}


def test_numeric_stage_ids_are_read_as_strings_and_a_malformed_one_is_refused() -> None:
    stages = ProjectStages()
    stages.apply(event("transaction.completed", transaction(100, metadata={"stage_id": 42})))
    assert stages.is_paid("42")
    bad = event("transaction.completed", transaction(100, metadata={"stage_id": ["x"]}))
    with pytest.raises(ValueError, match="stage_id"):
        stages.apply(bad)
    assert list(stages.paid()) == ["42"]
