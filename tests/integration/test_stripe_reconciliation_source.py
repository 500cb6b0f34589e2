"""The Stripe adapter as a reconciliation source, in process against the fake Stripe: paging, the period, refunds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.money import Money
from shared.domain.reconciliation import ProviderRecord
from shared.domain.status import TransactionStatus as S
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderUnavailable
from shared.gateways.stripe.adapter import StripeAdapter
from shared.gateways.stripe.client import StripeCalls
from shared.reconciliation.sources import ApiReconciliation, Period, ReferencePaths
from tests.support.fakes.stripe_api import FakeStripe
from tests.support.reconciliation import Ledger

NOW = datetime.now(UTC)
PERIOD = Period(NOW - timedelta(hours=1), NOW + timedelta(hours=1))


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    running = FakeStripe().start()
    yield running
    running.stop()


@pytest.fixture
def adapter() -> StripeAdapter:
    return StripeAdapter(StripeCalls(max_wait_s=0.05), page_size=3)


def account(fake: FakeStripe) -> GatewayAccount:
    config = {"api_key": fake.api_key, "webhook_secret": "whsec_test0123", "api_base": fake.url}
    return GatewayAccount(uuid.uuid4(), uuid.uuid4(), "stripe", {**config, "expiry_seconds": None})


async def started(adapter: StripeAdapter, acc: GatewayAccount, amount: int = 4200, **details: Any) -> Transaction:
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=acc.tenant_id,
        account_id=acc.id,
        gateway="stripe",
        money=Money.of(amount, "USD"),
        details={"success_url": "https://shop.example/ok", **details},
        metadata={},
        at=NOW,
    )
    start = await adapter.start_payment(acc, tx)
    tx.update(NOW, details=start.details, payment_url=start.payment_url)
    return tx


async def records(adapter: StripeAdapter, acc: GatewayAccount, *ledger: Transaction) -> list[ProviderRecord]:
    return [r async for r in adapter.reconciliation_records(acc, PERIOD, Ledger(*ledger))]


def session_of(tx: Transaction) -> str:
    return str(tx.details["session_id"])


async def test_every_session_of_the_period_is_listed_page_by_page(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    assert isinstance(adapter, ApiReconciliation) and isinstance(adapter, ReferencePaths)
    assert adapter.reference_paths(acc) == (("session_id",), ())
    paid, partly, fully, waiting, bounced, lapsed, open_ = [await started(adapter, acc) for _ in range(7)]
    fake.pay(session_of(paid))
    pi = fake.pay(session_of(partly))["payment_intent"]
    fake.dashboard_refund(pi, 1000)
    fake.dashboard_refund(pi, 500, status="pending")  # not money back yet: not counted, as in our ledger
    fake.dashboard_refund(fake.pay(session_of(fully))["payment_intent"], 4200)
    fake.pay(session_of(waiting), "unpaid")
    fake.pay(session_of(bounced), "unpaid")
    fake.settle_async(session_of(bounced), paid=False)
    fake.expire(session_of(lapsed))
    elsewhere = fake.add_session(999, "eur")
    fake.add_session(777, created=int(time.time()) - 2 * 86_400)  # before the period

    found = await records(adapter, acc)

    by_ref = {r.reference: r for r in found}
    assert len(found) == len(by_ref) == 8, "each session of the period once, none from before it"
    expected = [
        (paid, S.COMPLETED, 0),
        (partly, S.PARTIALLY_REFUNDED, 1000),
        (fully, S.REFUNDED, 4200),
        (waiting, S.PENDING, 0),
        (bounced, S.FAILED, 0),
        (lapsed, S.EXPIRED, 0),
        (open_, S.PENDING, 0),
    ]
    for tx, status, refunded in expected:
        record = by_ref[session_of(tx)]
        assert (record.transaction_id, record.amount, record.currency) == (tx.id, 4200, "USD")
        assert (record.status, record.refunded_amount) == (status, refunded), tx.details
    stranger = by_ref[elsewhere["id"]]
    assert (stranger.transaction_id, stranger.amount, stranger.currency, stranger.status) == (
        None, 999, "EUR", S.COMPLETED,
    )  # fmt: skip

    pages = fake.calls("GET", "/v1/checkout/sessions")
    assert len(pages) == 3, "8 sessions in pages of 3"
    window = {"gte": str(int(PERIOD.start.timestamp())), "lte": str(int(PERIOD.end.timestamp()))}
    assert all(p.params["created"] == window and p.params["limit"] == 3 for p in pages)
    assert all(p.params["expand"] == ["data.payment_intent.latest_charge"] for p in pages)
    assert "starting_after" not in pages[0].params
    newest_first = [r.reference for r in found]
    assert [p.params["starting_after"] for p in pages[1:]] == [newest_first[2], newest_first[5]]
    asked = sorted(c.params["payment_intent"] for c in fake.calls("GET", "/v1/refunds"))
    assert asked == sorted([pi, fake.sessions[session_of(fully)]["payment_intent"]]), "only charges with a refund"


async def test_pages_are_yielded_before_the_next_is_asked_for(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    for _ in range(7):
        await started(adapter, acc)
    stream = adapter.reconciliation_records(acc, PERIOD, Ledger())
    first = [await anext(stream) for _ in range(3)]
    assert len(fake.calls("GET", "/v1/checkout/sessions")) == 1 and len(first) == 3
    rest = [r async for r in stream]
    assert len(rest) == 4 and len(fake.calls("GET", "/v1/checkout/sessions")) == 3


async def test_a_page_stripe_fails_to_answer_is_asked_again(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    for _ in range(4):
        await started(adapter, acc)
    fake.fail_next(2)
    assert len(await records(adapter, acc)) == 4
    assert [c.answered for c in fake.calls("GET", "/v1/checkout/sessions")] == [503, 503, 200, 200]
    fake.fail_next(4)
    with pytest.raises(ProviderUnavailable):
        await records(adapter, acc)


async def test_subscriptions_and_their_renewals(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    price = fake.add_price(4200, "usd")
    checkout = await started(adapter, acc, mode="subscription", items=[{"price_id": price, "quantity": 1}])
    session = fake.pay(session_of(checkout))
    fake.dashboard_refund(fake.invoices[session["invoice"]]["_payment_intent"], 200)
    renewed = fake.invoice(session["subscription"], "subscription_cycle", 4200)
    fake.dashboard_refund(fake.invoices[renewed["id"]]["_payment_intent"], 4200)
    ours = {
        "renewal": renewal(acc, S.COMPLETED, invoice_id=renewed["id"], billing_reason="subscription_cycle"),
        "gone": renewal(acc, S.COMPLETED, invoice_id="in_unknown_to_stripe"),
        "failed": renewal(acc, S.FAILED, invoice_id=renewed["id"]),
        "checkout": checkout,
    }

    found = {r.reference: r for r in await records(adapter, acc, *ours.values())}

    first = found[session_of(checkout)]
    assert (first.transaction_id, first.status, first.refunded_amount) == (checkout.id, S.PARTIALLY_REFUNDED, 200)
    again = found[renewed["id"]]
    assert (again.transaction_id, again.amount, again.status, again.refunded_amount) == (
        ours["renewal"].id, 4200, S.REFUNDED, 4200,
    )  # fmt: skip
    assert set(found) == {session_of(checkout), renewed["id"]}, "an invoice Stripe does not know is missing there"
    assert len(fake.calls("GET", f"/v1/invoices/{renewed['id']}")) == 1, "the failed attempt is not asked about"


def renewal(acc: GatewayAccount, status: S, **details: Any) -> Transaction:
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=acc.tenant_id,
        account_id=acc.id,
        gateway="stripe",
        money=Money.of(4200, "USD"),
        details={"mode": "subscription", **details},
        metadata={},
        at=NOW,
    )
    tx.status = status
    return tx
