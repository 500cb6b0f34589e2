"""Stripe end to end: the real ingress, broker and processor against a fake Stripe that the real library talks to."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.fakes.stripe_api import FakeStripe
from tests.support.stripe_world import SUCCESS_URL, StripeWorld


@pytest.fixture
async def sw(client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher) -> AsyncIterator[StripeWorld]:
    fake = FakeStripe().start()
    try:
        yield await StripeWorld.make(client, engine, cipher, fake)
    finally:
        fake.stop()


def session_call(sw: StripeWorld, transaction_id: str) -> list[Any]:
    return [
        c for c in sw.fake.calls("POST", "/v1/checkout/sessions") if c.idempotency_key == f"checkout:{transaction_id}"
    ]


async def test_payment_mode_charges_the_amount_through_a_checkout_session(sw: StripeWorld, events: EventLog) -> None:
    tx = await sw.checkout(2599, "EUR", details={"customer_id": "cus_known", "description": "Order 42"})
    [call] = session_call(sw, tx["id"])
    session_id = tx["details"]["session_id"]
    assert tx["payment_url"] == sw.fake.sessions[session_id]["url"]
    assert call.headers["authorization"] == f"Bearer {sw.fake.api_key}", "the account's own key, never a global one"
    ours = {"transaction_id": tx["id"], "account_id": str(sw.account_id)}
    assert call.params == {
        "mode": "payment",
        "success_url": SUCCESS_URL,
        "client_reference_id": tx["id"],
        "metadata": ours,
        "customer": "cus_known",
        "line_items": [
            {
                "price_data": {"currency": "eur", "unit_amount": 2599, "product_data": {"name": "Order 42"}},
                "quantity": 1,
            }
        ],
        "payment_intent_data": {"metadata": ours},
    }

    session = sw.fake.pay(session_id)
    await sw.hooks.send("checkout.session.completed", session)
    done = await sw.until(tx["id"], "completed")
    assert done["details"]["payment_intent_id"] == session["payment_intent"]
    assert done["details"]["payment_status"] == "paid" and done["details"]["amount_total"] == 2599
    completed = await events.wait_for(tx["id"], "transaction.completed")
    assert completed.body["data"]["amount"] == 2599 and completed.body["data"]["currency"] == "EUR"


async def test_subscription_mode_with_a_trial_starts_without_a_charge(sw: StripeWorld) -> None:
    price = sw.fake.add_price(900, "usd")
    tx = await sw.checkout(
        1800,
        details={
            "mode": "subscription",
            "items": [{"price_id": price, "quantity": 2}],
            "trial_period_days": 14,
            "customer_email": "ann@example.com",
        },
    )
    [call] = session_call(sw, tx["id"])
    assert call.params["mode"] == "subscription" and call.params["customer_email"] == "ann@example.com"
    assert call.params["line_items"] == [{"price": price, "quantity": 2}]
    assert call.params["subscription_data"] == {
        "metadata": {"transaction_id": tx["id"], "account_id": str(sw.account_id)},
        "trial_period_days": 14,
    }
    assert "payment_intent_data" not in call.params and "customer" not in call.params

    session = sw.fake.pay(tx["details"]["session_id"], "no_payment_required")
    await sw.hooks.send("checkout.session.completed", session)
    started = await sw.until(tx["id"], "canceled")  # nothing was charged: charges come as renewal transactions
    assert started["details"]["cancel_reason"] == "no_payment_required"
    assert started["details"]["subscription_id"] == session["subscription"]
    assert started["details"]["customer_email"] == "ann@example.com"


async def test_forged_unsigned_or_stale_webhooks_change_nothing(sw: StripeWorld) -> None:
    tx = await sw.checkout()
    event = sw.hooks.event("checkout.session.completed", sw.fake.pay(tx["details"]["session_id"]))
    original = json.dumps(event)
    tampered = json.dumps({**event, "data": {"object": {**event["data"]["object"], "amount_total": 1}}})
    refusals = [
        await sw.hooks.post(event, secret="whsec_guessed0123456789"),
        await sw.hooks.post(event, signature=""),
        await sw.hooks.post(event, signed_at=int(time.time()) - 301),
        await sw.hooks.post(event, body=tampered, signed_body=original),
        await sw.hooks.post(event, signature="t=1,v2=abc"),
    ]
    assert [r.status_code for r in refusals] == [401] * 5
    assert all(r.json()["code"] == "unauthenticated" for r in refusals)
    malformed = await sw.hooks.post(event, body="{not json")
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"
    not_an_event = await sw.hooks.post(event, body=json.dumps({"id": "evt_1", "object": "charge"}))
    assert not_an_event.status_code == 400 and not_an_event.json()["code"] == "malformed_event"
    nobody = await sw.client.post(f"/webhooks/stripe/{uuid.uuid4()}", content=original)
    assert nobody.status_code == 401 and nobody.content == refusals[0].content
    await sw.drained()
    assert await sw.logged(event["id"]) == 0
    assert (await sw.get(tx["id"]))["status"] == "pending"

    # Stripe may send several v1 signatures (while a secret rolls over): any one of them suffices.
    timestamp = int(time.time())
    proper = stripe.WebhookSignature.generate_signature_header(original, sw.hooks.secret, timestamp)
    accepted = await sw.hooks.post(event, signature=f"t={timestamp},v1={'0' * 64},{proper.split(',')[1]}")
    assert accepted.status_code == 200, accepted.text
    await sw.until(tx["id"], "completed")


async def test_a_duplicate_event_is_applied_once(sw: StripeWorld, events: EventLog) -> None:
    tx = await sw.checkout()
    event = sw.hooks.event("checkout.session.completed", sw.fake.pay(tx["details"]["session_id"]))
    first, second = await sw.hooks.post(event), await sw.hooks.post(event)
    assert first.status_code == second.status_code == 200
    await sw.until(tx["id"], "completed")
    await events.wait_for(tx["id"], "transaction.completed")
    await sw.drained()
    assert await sw.logged(event["id"]) == 1
    assert len(events.of(tx["id"], "transaction.completed")) == 1
    audit = (await sw.client.get(f"/v1/transactions/{tx['id']}/audit", headers=sw.tenant.auth)).json()["items"]
    assert [entry["action"] for entry in audit].count("complete") == 1


async def test_an_older_event_never_moves_a_payment_backwards(sw: StripeWorld, events: EventLog) -> None:
    done, session = await sw.paid()
    expired = await sw.hooks.send("checkout.session.expired", {**session, "status": "expired"})
    await sw.applied(expired)
    assert await sw.get(done["id"]) == done, "an expiry after the payment changes nothing"

    tx = await sw.checkout()
    session_id = tx["details"]["session_id"]
    unpaid = sw.fake.pay(session_id, "unpaid")
    paid = sw.fake.settle_async(session_id, paid=True)
    now = int(time.time())
    await sw.hooks.send("checkout.session.async_payment_succeeded", paid, created=now)
    await sw.until(tx["id"], "completed")
    stale = await sw.hooks.send("checkout.session.completed", unpaid, created=now - 5)
    await sw.applied(stale)
    after = await sw.get(tx["id"])
    assert after["status"] == "completed" and after["details"]["payment_status"] == "paid"
    assert after["details"]["stripe_event_created"] == now
    assert not events.of(done["id"], "transaction.expired")


async def test_a_payment_completed_before_its_session_was_recorded(sw: StripeWorld, events: EventLog) -> None:
    gate = sw.fake.hold_new_sessions()
    created = await sw.create(wait=False)
    assert created.status_code == 202
    tx_id = created.json()["id"]
    for _ in range(150):
        if sw.fake.sessions:
            break
        await asyncio.sleep(0.1)
    [session_id] = sw.fake.sessions
    await sw.hooks.send("checkout.session.completed", sw.fake.pay(session_id))
    early = await sw.until(tx_id, "completed")  # found by our id in the session, before we knew the session
    assert early["payment_url"] is None and early["details"]["session_id"] == session_id
    gate.set()
    for _ in range(150):
        late = await sw.get(tx_id)
        if late["payment_url"]:
            break
        await asyncio.sleep(0.1)
    assert late["status"] == "completed" and late["payment_url"] == sw.fake.sessions[session_id]["url"]
    assert late["details"]["payment_status"] == "paid", "recording the session did not undo what the payment said"
    assert len(events.of(tx_id, "transaction.completed")) == 1


async def test_asynchronous_payments_succeed_or_fail_later(sw: StripeWorld) -> None:
    later = await sw.checkout()
    waiting = await sw.hooks.send("checkout.session.completed", sw.fake.pay(later["details"]["session_id"], "unpaid"))
    await sw.applied(waiting)
    pending = await sw.get(later["id"])
    assert pending["status"] == "pending" and pending["details"]["payment_status"] == "unpaid"
    succeeded = sw.fake.settle_async(later["details"]["session_id"], paid=True)
    await sw.hooks.send("checkout.session.async_payment_succeeded", succeeded)
    assert (await sw.until(later["id"], "completed"))["details"]["payment_status"] == "paid"

    bounced = await sw.checkout()
    session = sw.fake.pay(bounced["details"]["session_id"], "unpaid")
    await sw.hooks.send("checkout.session.completed", session)
    await sw.hooks.send("checkout.session.async_payment_failed", session)
    failed = await sw.until(bounced["id"], "failed")
    assert "failed" in failed["details"]["error_note"]


async def test_an_expired_session_expires_the_payment(sw: StripeWorld, events: EventLog) -> None:
    tx = await sw.checkout()
    session_id = tx["details"]["session_id"]
    await sw.hooks.send("checkout.session.expired", sw.fake.expire(session_id))
    await sw.until(tx["id"], "expired")
    await events.wait_for(tx["id"], "transaction.expired")
    paid_late = {**sw.fake.sessions[session_id], "status": "complete", "payment_status": "paid"}
    late = await sw.hooks.send("checkout.session.completed", paid_late)
    await sw.applied(late)
    assert (await sw.get(tx["id"]))["status"] == "expired"


async def test_subscription_events_reach_billing_events(sw: StripeWorld, events: EventLog) -> None:
    price = sw.fake.add_price(1500, "usd")
    tx = await sw.checkout(1500, details={"mode": "subscription", "items": [{"price_id": price, "quantity": 1}]})
    session = sw.fake.pay(tx["details"]["session_id"])
    sub_id = session["subscription"]
    now = int(time.time())
    await sw.hooks.send("customer.subscription.created", sw.fake.subscriptions[sub_id], created=now)
    created = await events.wait_for(tx["id"], "subscription.created")
    assert created.body["type"] == "billing.subscription.created" and created.body["subject"] == tx["id"]
    assert created.body["data"]["subscription"]["id"] == sub_id
    assert created.body["data"]["subscription"]["status"] == "active"
    assert created.body["data"]["id"] == tx["id"] and created.body["data"]["account_id"] == str(sw.account_id)

    await sw.hooks.send(
        "customer.subscription.updated", sw.fake.subscription(sub_id, status="past_due"), created=now + 1
    )
    updated = await events.wait_for(tx["id"], "subscription.updated")
    assert updated.body["data"]["subscription"]["status"] == "past_due"
    ended = sw.fake.subscription(sub_id, status="canceled", canceled_at=now + 2, ended_at=now + 2)
    await sw.hooks.send("customer.subscription.deleted", ended, created=now + 2)
    canceled = await events.wait_for(tx["id"], "subscription.canceled")
    assert canceled.body["data"]["subscription"]["canceled_at"] == now + 2

    stale = await sw.hooks.send("customer.subscription.updated", {**ended, "status": "active"}, created=now + 1)
    await sw.applied(stale)
    await sw.drained()
    assert len(events.of(tx["id"], "subscription.updated")) == 1, "an older snapshot is not told again"
    kept = await sw.get(tx["id"])
    assert kept["details"]["subscription_status"] == "canceled" and kept["status"] == "pending"


async def test_a_paid_renewal_becomes_its_own_transaction(sw: StripeWorld, events: EventLog) -> None:
    price = sw.fake.add_price(1500, "usd")
    details = {"mode": "subscription", "items": [{"price_id": price, "quantity": 1}]}
    checkout, session = await sw.paid(1500, details=details, metadata={"project_id": "p-7"})
    sub_id, first_id = session["subscription"], session["invoice"]
    first = {k: v for k, v in sw.fake.invoices[first_id].items() if not k.startswith("_")}
    await sw.applied(await sw.hooks.send("invoice.paid", first))
    origin = await sw.get(checkout["id"])
    assert origin["details"]["invoice_id"] == first_id
    assert origin["details"]["payment_intent_id"] == sw.fake.invoices[first_id]["_payment_intent"]
    assert [t["id"] for t in await sw.find(subscription_id=sub_id)] == [checkout["id"]], (
        "the first invoice is the checkout"
    )

    renewal = sw.fake.invoice(sub_id, "subscription_cycle", 1500)
    await sw.hooks.send("invoice.paid", renewal)
    for _ in range(150):
        if found := await sw.find(invoice_id=renewal["id"]):
            break
        await asyncio.sleep(0.1)
    [renewed] = found
    assert renewed["status"] == "completed" and renewed["id"] != checkout["id"]
    assert (renewed["amount"], renewed["currency"], renewed["account_id"]) == (1500, "USD", str(sw.account_id))
    assert renewed["details"]["subscription_id"] == sub_id
    assert renewed["details"]["parent_transaction_id"] == checkout["id"]
    assert renewed["details"]["payment_intent_id"] == sw.fake.invoices[renewal["id"]]["_payment_intent"]
    assert renewed["metadata"] == {"project_id": "p-7"}
    await events.wait_for(renewed["id"], "transaction.completed")

    await sw.applied(await sw.hooks.send("invoice.paid", renewal))  # the same invoice in another event
    assert len(await sw.find(invoice_id=renewal["id"])) == 1

    declined = sw.fake.invoice(sub_id, "subscription_cycle", 1500, paid=False)
    await sw.applied(await sw.hooks.send("invoice.payment_failed", declined))
    [failed] = await sw.find(invoice_id=declined["id"])
    assert failed["status"] == "failed" and failed["amount"] == 1500
    assert "failed" in failed["details"]["error_note"]
    assert len(await sw.find(subscription_id=sub_id)) == 3


async def test_refunds_made_in_the_dashboard_are_mirrored(sw: StripeWorld, events: EventLog) -> None:
    tx, session = await sw.paid(10_000)
    pi = session["payment_intent"]
    first = sw.fake.dashboard_refund(pi, 3000)
    # Today's charge.refunded lists no refunds: the processor asks Stripe for them.
    await sw.hooks.send("charge.refunded", sw.fake.charge(pi))
    partial = await sw.until(tx["id"], "partially_refunded")
    assert partial["refunded_amount"] == 3000
    [mirrored] = await sw.refunds(tx["id"])
    assert (mirrored["amount"], mirrored["status"], mirrored["reason"]) == (3000, "succeeded", "made in Stripe")
    await events.wait_for(tx["id"], "refund.succeeded")

    await sw.applied(await sw.hooks.send("refund.updated", first))  # the same refund told again
    pending = sw.fake.dashboard_refund(pi, 7000, status="pending")
    await sw.applied(await sw.hooks.send("refund.updated", pending))
    assert (await sw.get(tx["id"]))["refunded_amount"] == 3000, "neither a repeat nor a pending refund counts"

    sw.fake.refunds[pending["id"]]["status"] = "succeeded"
    await sw.hooks.send("charge.refunded", sw.fake.charge(pi, with_refunds=True))
    full = await sw.until(tx["id"], "refunded")
    assert full["refunded_amount"] == 10_000
    assert sorted(r["amount"] for r in await sw.refunds(tx["id"])) == [3000, 7000]


async def test_api_refunds_partial_and_full_carry_our_idempotency_key(sw: StripeWorld) -> None:
    tx, session = await sw.paid(10_000)
    refund_path = f"/v1/transactions/{tx['id']}/refunds"
    asked = await sw.client.post(refund_path, json={"amount": 4000, "reason": "damaged"}, headers=sw.tenant.auth)
    assert asked.status_code == 202, asked.text
    first_id = asked.json()["id"]
    assert (await sw.until(tx["id"], "partially_refunded"))["refunded_amount"] == 4000
    [call] = sw.fake.calls("POST", "/v1/refunds")
    assert call.idempotency_key == f"refund:{first_id}"
    assert call.params == {
        "payment_intent": session["payment_intent"],
        "amount": 4000,
        "metadata": {"refund_id": first_id, "transaction_id": tx["id"]},
    }

    # Stripe's own events about our refund must not count it twice.
    [stripe_refund] = sw.fake.refunds.values()
    await sw.applied(await sw.hooks.send("refund.updated", stripe_refund))
    await sw.applied(await sw.hooks.send("charge.refunded", sw.fake.charge(session["payment_intent"])))
    assert (await sw.get(tx["id"]))["refunded_amount"] == 4000
    assert [r["id"] for r in await sw.refunds(tx["id"])] == [first_id]

    too_much = await sw.client.post(refund_path, json={"amount": 6001}, headers=sw.tenant.auth)
    assert too_much.status_code == 422 and too_much.json()["code"] == "refund_exceeds_remainder"
    assert len(sw.fake.calls("POST", "/v1/refunds")) == 1, "refused before any call to Stripe"

    rest = await sw.client.post(refund_path, json={}, headers=sw.tenant.auth)
    assert rest.status_code == 202 and rest.json()["amount"] == 6000
    assert (await sw.until(tx["id"], "refunded"))["refunded_amount"] == 10_000
    last = sw.fake.calls("POST", "/v1/refunds")[-1]
    assert last.idempotency_key == f"refund:{rest.json()['id']}" and last.params["amount"] == 6000


async def test_a_refund_stripe_refuses_is_failed_with_its_reason(sw: StripeWorld) -> None:
    tx, _ = await sw.paid(5000)
    sw.fake.refund_status, sw.fake.refund_failure_reason = "failed", "expired_or_canceled_card"
    asked = await sw.client.post(f"/v1/transactions/{tx['id']}/refunds", json={"amount": 1000}, headers=sw.tenant.auth)
    assert asked.status_code == 202
    for _ in range(150):
        listed = await sw.refunds(tx["id"])
        if listed and listed[0]["status"] != "requested":
            break
        await asyncio.sleep(0.1)
    [refund] = listed
    assert refund["status"] == "failed" and "expired_or_canceled_card" in refund["error"]
    after = await sw.get(tx["id"])
    assert after["status"] == "completed" and after["refunded_amount"] == 0


async def test_a_refund_still_pending_at_stripe_is_settled_by_its_event(sw: StripeWorld, events: EventLog) -> None:
    tx, _ = await sw.paid(8000)
    sw.fake.refund_status = "pending"
    asked = await sw.client.post(f"/v1/transactions/{tx['id']}/refunds", json={"amount": 2500}, headers=sw.tenant.auth)
    refund_id = asked.json()["id"]
    for _ in range(150):
        if sw.fake.refunds and len(sw.fake.calls("GET", f"/v1/refunds/{next(iter(sw.fake.refunds))}")) >= 1:
            break
        await asyncio.sleep(0.1)
    [stripe_refund] = sw.fake.refunds.values()
    [waiting] = await sw.refunds(tx["id"])
    assert waiting["status"] == "requested", "a pending refund is not money back yet"
    assert (await sw.get(tx["id"]))["refunded_amount"] == 0

    stripe_refund["status"] = "succeeded"
    await sw.hooks.send("refund.updated", stripe_refund)
    assert (await sw.until(tx["id"], "partially_refunded"))["refunded_amount"] == 2500
    [settled] = await sw.refunds(tx["id"])
    assert settled["id"] == refund_id and settled["status"] == "succeeded"
    assert len(sw.fake.refunds) == 1, "Stripe was asked for one refund, however often the worker retried"
    await events.wait_for(tx["id"], "refund.succeeded")


async def test_a_provider_down_for_a_while_makes_exactly_one_session(sw: StripeWorld) -> None:
    sw.fake.fail_next(1, after_processing=True)  # Stripe made the session but the answer was lost
    sw.fake.fail_next(5)
    response = await sw.create()
    assert response.status_code in (201, 202), response.text
    tx_id = response.json()["id"]
    for _ in range(200):
        tx = await sw.get(tx_id)
        if tx["payment_url"]:
            break
        await asyncio.sleep(0.1)
    assert len(sw.fake.sessions) == 1
    calls = session_call(sw, tx_id)
    assert [c.answered for c in calls] == [503] * 6 + [200], "4 tries in process, then the message retried"
    [session] = sw.fake.sessions.values()
    assert tx["status"] == "pending" and tx["payment_url"] == session["url"]


async def test_zero_and_three_decimal_currencies_are_sent_as_stripe_expects(sw: StripeWorld) -> None:
    yen, session = await sw.paid(5000, "JPY")
    [yen_call] = session_call(sw, yen["id"])
    assert yen_call.params["line_items"][0]["price_data"]["unit_amount"] == 5000
    assert yen_call.params["line_items"][0]["price_data"]["currency"] == "jpy"
    assert session["amount_total"] == 5000 and yen["details"]["amount_total"] == 5000
    refund = await sw.client.post(
        f"/v1/transactions/{yen['id']}/refunds", json={"amount": 1200}, headers=sw.tenant.auth
    )
    assert refund.status_code == 202
    assert (await sw.until(yen["id"], "partially_refunded"))["refunded_amount"] == 1200
    assert sw.fake.calls("POST", "/v1/refunds")[-1].params["amount"] == 1200

    dinar = await sw.checkout(12_340, "KWD")
    [dinar_call] = session_call(sw, dinar["id"])
    assert dinar_call.params["line_items"][0]["price_data"]["unit_amount"] == 12_340
    assert dinar_call.params["line_items"][0]["price_data"]["currency"] == "kwd"

    fils = await sw.create(12_345, "KWD")  # Stripe takes three-decimal amounts only in steps of 10
    assert fils.status_code == 201, fils.text
    refused = await sw.until(fils.json()["id"], "failed")
    assert "steps of 10" in refused["details"]["error_note"]
    assert session_call(sw, refused["id"]) == [], "refused before any call to Stripe"
