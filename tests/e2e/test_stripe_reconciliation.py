"""Reconciling a Stripe account through its API, end to end: the real services against the fake Stripe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.fakes.stripe_api import FakeStripe
from tests.support.stripe_world import StripeWorld

PAGE = 2


@pytest.fixture
async def sw(client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher) -> AsyncIterator[StripeWorld]:
    fake = FakeStripe().start()
    fake.page_size = PAGE  # Stripe's pages hold 100: a small page proves the paging with a few sessions
    try:
        yield await StripeWorld.make(client, engine, cipher, fake)
    finally:
        fake.stop()


def period() -> tuple[dict[str, str], int]:
    """The hour around now, and its start in unix seconds."""
    start, fmt = int(time.time()) - 3600, "%Y-%m-%dT%H:%M:%SZ"
    return {"from": time.strftime(fmt, time.gmtime(start)), "to": time.strftime(fmt, time.gmtime(start + 7200))}, start


async def reconcile(sw: StripeWorld, window: dict[str, str]) -> dict[str, Any]:
    started = await sw.client.post(
        "/v1/reconciliations", json={"account_id": str(sw.account_id), **window}, headers=sw.tenant.auth
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    for _ in range(300):
        view: dict[str, Any] = (await sw.client.get(f"/v1/reconciliations/{run_id}", headers=sw.tenant.auth)).json()
        if view["status"] in ("completed", "failed"):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"reconciliation {run_id} did not finish")


async def refund(sw: StripeWorld, tx: dict[str, Any], amount: int) -> None:
    asked = await sw.client.post(
        f"/v1/transactions/{tx['id']}/refunds", json={"amount": amount}, headers=sw.tenant.auth
    )
    assert asked.status_code == 202, asked.text
    await sw.until(tx["id"], "partially_refunded")


async def test_every_difference_with_stripe_is_found_across_pages_and_the_safe_one_fixed(
    sw: StripeWorld, events: EventLog
) -> None:
    fake = sw.fake
    agree, _ = await sw.paid(10_000)
    refunded_alike, _ = await sw.paid(10_000)
    await refund(sw, refunded_alike, 3000)
    refund_differs, session = await sw.paid(10_000)
    await refund(sw, refund_differs, 3000)
    fake.dashboard_refund(session["payment_intent"], 2000)  # Stripe never told us about this one
    amount_differs, session = await sw.paid(10_000)
    # An older session without our ids: found by its session id in our details.
    fake.sessions[session["id"]].update(amount_total=12_000, client_reference_id=None, metadata={})
    refunded_there, session = await sw.paid(10_000)
    fake.dashboard_refund(session["payment_intent"], 10_000)
    missing_there, session = await sw.paid(10_000)
    del fake.sessions[session["id"]]
    stranger = fake.add_session(4500, "usd")
    fake.add_session(5000, created=int(time.time()) - 2 * 86_400)  # paid at Stripe, but before the period
    price = fake.add_price(1500, "usd")
    subscribed, session = await sw.paid(1500, details={"mode": "subscription", "items": [{"price_id": price}]})
    renewal = fake.invoice(session["subscription"], "subscription_cycle", 1500)
    await sw.hooks.send("invoice.paid", renewal)
    for _ in range(150):
        if renewed := await sw.find(invoice_id=renewal["id"]):
            break
        await asyncio.sleep(0.1)
    assert renewed and renewed[0]["status"] == "completed"
    # Last, so that the janitor (30 s) has not asked Stripe about them before the run does.
    bounced = await sw.checkout(10_000)
    fake.pay(bounced["details"]["session_id"], "unpaid")
    fake.settle_async(bounced["details"]["session_id"], paid=False)
    paid_unheard = await sw.checkout(10_000)
    fake.pay(paid_unheard["details"]["session_id"])
    waiting = await sw.checkout(10_000)

    window, start = period()
    view = await reconcile(sw, window)

    assert view["status"] == "completed", view
    in_period = 10  # every session of ours but the one Stripe lost, and the stranger's
    assert view["counts"] == {
        "records": in_period + 1,  # and our renewal, read from its invoice
        "matched": in_period,
        "differences": 7,
        "fixed": 1,
        "by_kind": {
            "missing_here": 1, "missing_there": 1, "amount_differs": 1, "status_differs": 3, "refund_differs": 1,
        },
    }  # fmt: skip
    by_tx = {d["transaction_id"]: d for d in view["differences"] if d["transaction_id"]}
    assert set(by_tx) == {
        tx["id"] for tx in (refund_differs, amount_differs, refunded_there, missing_there, bounced, paid_unheard)
    }, "the payments that agree, the renewal and the one still open are not reported"
    assert (by_tx[refund_differs["id"]]["kind"], by_tx[refund_differs["id"]]["theirs"]["refunded_amount"]) == (
        "refund_differs", 5000,
    )  # fmt: skip
    assert by_tx[refund_differs["id"]]["ours"]["refunded_amount"] == 3000
    differs = by_tx[amount_differs["id"]]
    assert differs["kind"] == "amount_differs" and differs["theirs"]["amount"] == 12_000
    assert differs["reference"] == amount_differs["details"]["session_id"]
    assert by_tx[missing_there["id"]]["kind"] == "missing_there"
    for needs_attention, theirs in ((refunded_there, "refunded"), (bounced, "failed")):
        found = by_tx[needs_attention["id"]]
        assert (found["kind"], found["resolution"], found["theirs"]["status"]) == (
            "status_differs", "needs_attention", theirs,
        )  # fmt: skip
    fixed = by_tx[paid_unheard["id"]]
    assert (fixed["kind"], fixed["resolution"], fixed["theirs"]["status"]) == ("status_differs", "fixed", "completed")
    [unknown] = [d for d in view["differences"] if d["kind"] == "missing_here"]
    assert unknown["transaction_id"] is None and unknown["reference"] == stranger["id"]
    assert (unknown["theirs"]["amount"], unknown["theirs"]["currency"]) == (4500, "USD")

    completed = await sw.until(paid_unheard["id"], "completed")
    assert completed["details"]["reconciled_by"] == view["id"]
    audit = (await sw.client.get(f"/v1/transactions/{paid_unheard['id']}/audit", headers=sw.tenant.auth)).json()
    assert (audit["items"][-1]["actor"], audit["items"][-1]["action"]) == ("reconciliation", "complete")
    assert (await sw.get(bounced["id"]))["status"] == "pending", "only the safe fix is applied"
    assert (await sw.get(refunded_there["id"]))["status"] == "completed"
    assert (await sw.get(waiting["id"]))["status"] == "pending"

    for tx_id, kind in [(tx_id, d["kind"]) for tx_id, d in by_tx.items()]:
        mismatch = await events.wait_for(tx_id, "reconciliation.mismatch")
        assert mismatch.body["data"]["kind"] == kind and mismatch.body["data"]["reconciliation_id"] == view["id"]
        assert mismatch.body["data"]["gateway"] == "stripe"
    told = await events.wait_for(view["id"], "reconciliation.mismatch")  # nothing of ours: the run is the subject
    assert told.body["data"]["kind"] == "missing_here" and told.body["data"]["reference"] == stranger["id"]
    for quiet in (agree, refunded_alike, subscribed, renewed[0], waiting):
        assert not events.of(quiet["id"], "reconciliation.mismatch")

    run_pages = [c for c in fake.calls("GET", "/v1/checkout/sessions") if c.params["created"]["gte"] == str(start)]
    assert len(run_pages) == in_period // PAGE, "paged: limit, then starting_after the last id while has_more"
    assert all(c.params["limit"] == 100 for c in run_pages), "Stripe's largest page (the fake answers 2)"
    assert "starting_after" not in run_pages[0].params
    assert all(c.params["starting_after"].startswith("cs_") for c in run_pages[1:])
    assert all(c.headers["authorization"] == f"Bearer {fake.api_key}" for c in run_pages), "the account's own key"


async def test_a_run_stripe_does_not_answer_fails_with_the_reason(sw: StripeWorld) -> None:
    await sw.paid(10_000)
    sw.fake.fail_next(4)  # every try of the first page
    view = await reconcile(sw, period()[0])
    assert view["status"] == "failed"
    assert "Stripe did not answer the checkout session list" in view["error"]
