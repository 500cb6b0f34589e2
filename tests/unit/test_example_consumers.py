"""The example consumers of billing.events: totals per currency, paid stages, duplicates changing nothing."""

from __future__ import annotations

import copy
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

from examples.consumers.finance import FinanceLedger
from examples.consumers.projects import ProjectStages
from shared.domain.money import ISO_4217_EXPONENTS

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


def converted(tx: dict[str, Any], rate: str, rate_date: str, into: str = "UZS") -> dict[str, Any]:
    """The transaction as billing shows it after a change on `rate_date`: converted at that day's rate."""
    factor = Decimal(rate).scaleb(ISO_4217_EXPONENTS[into] - ISO_4217_EXPONENTS[tx["currency"]])
    amount = int((tx["amount"] * factor).to_integral_value(ROUND_HALF_EVEN))
    return {**tx, "reporting": {"currency": into, "amount": amount, "rate": rate, "rate_date": rate_date}}


def test_the_reporting_ledger_values_each_refund_at_its_own_rate_and_realises_the_difference() -> None:
    ledger = FinanceLedger()
    usd = transaction(10_000, "USD")  # 100.00 USD
    ledger.apply(event("transaction.completed", converted(usd, "12650.12", "2025-01-15")))
    uzs = transaction(5_000_000, "UZS")
    ledger.apply(event("transaction.completed", converted(uzs, "1", "2025-01-15")))
    for moved in settle_refund(converted(usd, "12700.5", "2025-01-20"), 4_000, 4_000):  # 40.00 USD back
        ledger.apply(moved)
    assert ledger.totals() == {
        "USD": {"in": 10_000, "out": 4_000, "net": 6_000},
        "UZS": {"in": 5_000_000, "out": 0, "net": 5_000_000},
    }
    # In: 1 265 012.00 + 50 000.00 UZS; out: 40 x 12 700.50 = 508 020.00; at the payment's rate 506 004.80.
    assert ledger.reporting() == {
        "UZS": {"in": 131_501_200, "out": 50_802_000, "net": 80_699_200, "exchange_difference": -201_520}
    }
    assert ledger.exchange_differences() == {usd["id"]: -201_520}
    assert ledger.unconverted() == []


def test_refunds_round_half_to_even_in_the_reporting_currency() -> None:
    ledger = FinanceLedger()
    kwd = transaction(1_001, "KWD")
    ledger.apply(event("transaction.completed", converted(kwd, "0.5", "2025-03-01", into="JPY")))  # 0.5005 JPY
    ledger.apply(refund_event("refund.succeeded", converted(kwd, "1.5", "2025-03-02", into="JPY"), 1_001, 1_001))
    # in: 1.001 x 0.5 = 0.5005 -> 1 JPY; out: 1.001 x 1.5 = 1.5015 -> 2 JPY; at the payment's rate 1 JPY.
    assert ledger.reporting() == {"JPY": {"in": 1, "out": 2, "net": -1, "exchange_difference": -1}}
    halves = FinanceLedger()
    jpy = transaction(5, "JPY")
    halves.apply(event("transaction.completed", converted(jpy, "0.5", "2025-03-01", into="JPY")))
    assert halves.reporting()["JPY"]["in"] == 2, "2.5 rounds to the even 2"


def test_a_refund_delivered_before_its_payment_still_realises_the_difference() -> None:
    ledger = FinanceLedger()
    eur = transaction(2_000, "EUR")
    ledger.apply(refund_event("refund.succeeded", converted(eur, "14000", "2025-02-02"), 2_000, 2_000))
    ledger.apply(event("transaction.completed", converted(eur, "13500", "2025-02-01")))
    assert ledger.exchange_differences() == {eur["id"]: 270_000_00 - 280_000_00}
    assert ledger.reporting()["UZS"]["net"] == -10_000_00


def test_a_change_billing_could_not_convert_is_listed_and_kept_out_of_the_reporting_ledger() -> None:
    ledger = FinanceLedger()
    stale = event("transaction.completed", {**transaction(100, "USD"), "reporting": None})
    assert ledger.apply(stale)
    assert ledger.totals() == {"USD": {"in": 100, "out": 0, "net": 100}}
    assert ledger.reporting() == {}
    assert ledger.unconverted() == [stale["id"]]
    assert not ledger.apply(copy.deepcopy(stale))
    assert ledger.unconverted() == [stale["id"]]


@pytest.mark.parametrize("rate", [1.5, "abc", "-2", None])
def test_a_malformed_conversion_is_refused_and_changes_nothing(rate: object) -> None:
    ledger = FinanceLedger()
    tx = converted(transaction(100, "USD"), "12650", "2025-01-01")
    bad = event("transaction.completed", {**tx, "reporting": {**tx["reporting"], "rate": rate}})
    with pytest.raises(ValueError, match=r"data\.reporting\.rate"):
        ledger.apply(bad)
    assert ledger.totals() == {} and ledger.reporting() == {}


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
