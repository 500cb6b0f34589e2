"""The Stripe adapter against the fake Stripe, in process: the janitor's look-ups, refunds, retries and refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus, TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderRejected, ProviderUnavailable
from shared.gateways.stripe.adapter import StripeAdapter
from shared.gateways.stripe.client import StripeCalls
from tests.support.fakes.stripe_api import FakeStripe

NOW = datetime.now(UTC)


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    running = FakeStripe().start()
    yield running
    running.stop()


@pytest.fixture
def adapter() -> StripeAdapter:
    return StripeAdapter(StripeCalls(max_wait_s=0.05))  # the same policy, shorter pauses


def account(fake: FakeStripe, api_key: str | None = None) -> GatewayAccount:
    config = {"api_key": api_key or fake.api_key, "webhook_secret": "whsec_test0123", "api_base": fake.url}
    return GatewayAccount(uuid.uuid4(), uuid.uuid4(), "stripe", {**config, "expiry_seconds": None})


def transaction(acc: GatewayAccount, details: dict[str, Any], amount: int = 4200, currency: str = "USD") -> Transaction:
    return Transaction.open(
        id=uuid.uuid4(),
        tenant_id=acc.tenant_id,
        account_id=acc.id,
        gateway="stripe",
        money=Money.of(amount, currency),
        details={"success_url": "https://shop.example/ok", **details},
        metadata={},
        at=NOW,
        expires_at=NOW + timedelta(hours=2),
    )


async def started(adapter: StripeAdapter, acc: GatewayAccount, **details: Any) -> Transaction:
    tx = transaction(acc, details)
    start = await adapter.start_payment(acc, tx)
    tx.update(NOW, details=start.details, payment_url=start.payment_url)
    return tx


def refund_of(tx: Transaction, amount: int) -> Refund:
    return Refund(uuid.uuid4(), tx.tenant_id, tx.id, amount, RefundStatus.REQUESTED, None, None, NOW, NOW)


async def test_the_janitor_reads_the_session_state(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    waiting = await started(adapter, acc)
    assert (await adapter.status(acc, waiting)).status is None
    session_id = waiting.details["session_id"]
    fake.pay(session_id, "unpaid")
    unpaid = await adapter.status(acc, waiting)
    assert unpaid.status is None and "payment_status" not in unpaid.details, "only ids while the money is on its way"
    fake.settle_async(session_id, paid=True)
    paid = await adapter.status(acc, waiting)
    assert paid.status is TransactionStatus.COMPLETED and paid.details["payment_status"] == "paid"
    assert paid.details["payment_intent_id"] == fake.sessions[session_id]["payment_intent"]

    lapsed = await started(adapter, acc)
    fake.expire(lapsed.details["session_id"])
    assert (await adapter.status(acc, lapsed)).status is TransactionStatus.EXPIRED
    assert (await adapter.status(acc, transaction(acc, {}))).status is None, "no session yet: nothing to ask"


async def test_the_session_lives_as_long_as_the_transaction_waits(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    tx = await started(adapter, acc)
    [call] = fake.calls("POST", "/v1/checkout/sessions")
    assert tx.expires_at is not None and call.params["expires_at"] == int(tx.expires_at.timestamp())


async def test_a_pending_refund_is_asked_about_again(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    tx = await started(adapter, acc)
    tx.update(NOW, details={"payment_intent_id": fake.pay(tx.details["session_id"])["payment_intent"]})
    fake.refund_status = "pending"
    refund = refund_of(tx, 1000)
    with pytest.raises(ProviderUnavailable, match="still pending"):
        await adapter.refund(acc, tx, refund)
    [stripe_refund] = fake.refunds.values()
    stripe_refund["status"] = "succeeded"
    outcome = await adapter.refund(acc, tx, refund)  # the create replays "pending"; the look-up says succeeded
    assert outcome.succeeded and outcome.provider_refund_id == stripe_refund["id"]
    assert len(fake.refunds) == 1 and len(fake.calls("GET", f"/v1/refunds/{stripe_refund['id']}")) == 2


async def test_a_subscription_payment_is_refunded_through_its_invoice(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    price = fake.add_price(4200, "usd")
    tx = await started(adapter, acc, mode="subscription", items=[{"price_id": price, "quantity": 1}])
    session = fake.pay(tx.details["session_id"])
    outcome = await adapter.refund(acc, tx, refund_of(tx, 4200))
    assert outcome.succeeded
    [call] = fake.calls("POST", "/v1/refunds")
    assert call.params["payment_intent"] == fake.invoices[session["invoice"]]["_payment_intent"]


async def test_a_refund_with_nothing_paid_is_refused(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    tx = await started(adapter, acc)
    with pytest.raises(ProviderRejected, match="nothing to refund"):
        await adapter.refund(acc, tx, refund_of(tx, 100))
    assert fake.calls("POST", "/v1/refunds") == []


async def test_retries_are_bounded_and_4xx_is_never_retried(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    fake.fail_next(4)
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        await adapter.start_payment(acc, transaction(acc, {}))
    assert len(fake.requests) == 4, "four tries, the library's own retries off"

    fake.fail_next(1, status=429)
    assert (await started(adapter, acc)).details["session_id"]
    assert [r.answered for r in fake.requests[4:]] == [429, 200]

    with pytest.raises(ProviderRejected, match="resource_missing"):
        await adapter.start_payment(acc, transaction(acc, {"items": [{"price_id": "price_gone", "quantity": 1}]}))
    assert fake.requests[-1].answered == 400 and len(fake.requests) == 7


async def test_each_account_uses_its_own_key(fake: FakeStripe, adapter: StripeAdapter) -> None:
    acc = account(fake)
    await started(adapter, acc)
    stranger = account(fake, api_key="sk_test_not_this_accounts_key")
    with pytest.raises(ProviderRejected, match="Invalid API Key"):
        await adapter.start_payment(stranger, transaction(stranger, {}))
    assert [r.headers["authorization"] for r in fake.requests] == [
        f"Bearer {fake.api_key}",
        "Bearer sk_test_not_this_accounts_key",
    ]


@pytest.mark.parametrize(
    ("details", "why"),
    [
        ({"mode": "subscription"}, "needs details.items"),
        ({"mode": "setup"}, "'payment' or 'subscription'"),
        ({"success_url": None}, "success_url"),
        ({"customer_id": "cus_1", "customer_email": "a@b.c"}, "not both"),
        ({"trial_period_days": 7}, "subscription mode only"),
        ({"items": [{"price_id": "", "quantity": 1}]}, "price_id"),
    ],
)
async def test_details_that_cannot_make_a_session_are_refused_before_calling(
    fake: FakeStripe, adapter: StripeAdapter, details: dict[str, Any], why: str
) -> None:
    acc = account(fake)
    with pytest.raises(ProviderRejected, match=why):
        await adapter.start_payment(acc, transaction(acc, details))
    assert fake.requests == []
