"""Octo as a reconciliation source, end to end: `POST /v1/reconciliations` through the ingress, the run in the
processor asking the fake Octo's status (prepare_payment repeated) for each of our payments, the report, the fix,
the audit trail and the `reconciliation.mismatch` events."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.fakes.octo import FakeOcto
from tests.support.http import create, until
from tests.support.reconciliation import by_transaction, reconcile
from tests.support.world import TenantWorld, make_tenant


@pytest.fixture
def octo() -> Iterator[FakeOcto]:
    fake = FakeOcto().start()
    yield fake
    fake.stop()


async def paid(client: httpx.AsyncClient, world: TenantWorld, fake: FakeOcto, amount: int) -> dict[str, Any]:
    """A payment Octo says succeeded, completed here by its signed notify."""
    tx = await create(client, world, gateway="octo", amount=amount)
    fake.set_status(tx["id"], "succeeded")
    assert (await fake.notify(tx["id"])).json() == {"error": 0}
    return await until(client, world, tx["id"], "completed")


async def test_the_status_check_of_each_payment_reports_every_difference_and_fixes_the_safe_one(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, events: EventLog
) -> None:
    world = await make_tenant(engine, cipher, configs={"octo": octo.account_config()})
    agree = await paid(client, world, octo, 150_000)
    amount = await paid(client, world, octo, 200_000)
    octo.set_sums(amount["id"], total_sum=Decimal("1900.00"))  # Octo's books hold less than ours
    attention = await paid(client, world, octo, 300_000)
    octo.set_status(attention["id"], "canceled")  # Octo says it was never paid; we say completed
    refund = await paid(client, world, octo, 500_000)
    answer = await client.post(f"/v1/transactions/{refund['id']}/refunds", json={"amount": 30_000}, headers=world.auth)
    assert answer.status_code == 202, answer.text
    await until(client, world, refund["id"], "partially_refunded")
    octo.set_sums(refund["id"], refunded_sum=Decimal("500.00"))  # 300.00 through us, 200.00 more in Octo's cabinet
    missing = await paid(client, world, octo, 400_000)
    octo.lose(missing["id"])  # Octo no longer shows it
    open_both_sides = await create(client, world, gateway="octo", amount=60_000)
    octo.fail_next(1, status=400)
    never_reached = await create(client, world, gateway="octo", amount=70_000)
    assert never_reached["status"] == "failed" and "octo_payment_uuid" not in never_reached["details"]
    lost_notify = await create(client, world, gateway="octo", amount=80_000)
    octo.set_status(lost_notify["id"], "succeeded")  # paid at Octo; the notify never reached us
    payments_before = len(octo.payments)

    view = await reconcile(client, world, world.accounts["octo"])

    assert view["status"] == "completed", view
    assert view["gateway"] == "octo" and view["source"] == "api"
    # Asked: every payment Octo may know. The lost one gives no record; the failed create is never asked.
    assert view["counts"] == {
        "records": 6,
        "matched": 6,
        "differences": 5,
        "fixed": 1,
        "by_kind": {"amount_differs": 1, "status_differs": 2, "refund_differs": 1, "missing_there": 1},
    }
    found = by_transaction(view)
    assert set(found) == {amount["id"], attention["id"], refund["id"], missing["id"], lost_notify["id"]}

    [amount_differs] = found[amount["id"]]
    assert amount_differs["kind"] == "amount_differs" and amount_differs["resolution"] == "needs_attention"
    assert amount_differs["reference"] == octo.payment(amount["id"]).uuid
    assert amount_differs["ours"]["amount"] == 200_000
    assert amount_differs["theirs"] == {
        "reference": octo.payment(amount["id"]).uuid,
        "merchant_reference": amount["id"],
        "transaction_id": amount["id"],
        "amount": 190_000,
        "refunded_amount": 0,
        "currency": None,  # Octo's status answer names no currency: not compared
        "status": "completed",
    }
    [status_attention] = found[attention["id"]]
    assert (status_attention["kind"], status_attention["resolution"]) == ("status_differs", "needs_attention")
    assert (status_attention["ours"]["status"], status_attention["theirs"]["status"]) == ("completed", "canceled")
    [refund_differs] = found[refund["id"]]
    assert refund_differs["kind"] == "refund_differs"
    assert (refund_differs["ours"]["refunded_amount"], refund_differs["theirs"]["refunded_amount"]) == (30_000, 50_000)
    assert refund_differs["theirs"]["status"] == "partially_refunded"
    [missing_there] = found[missing["id"]]
    assert missing_there["kind"] == "missing_there" and missing_there["theirs"] is None
    [fixed] = found[lost_notify["id"]]
    assert (fixed["kind"], fixed["resolution"]) == ("status_differs", "fixed")
    assert (fixed["ours"]["status"], fixed["theirs"]["status"]) == ("pending", "completed")

    # The safe fix: completed through the state machine by the run, on the audit trail as `reconciliation`.
    completed = await until(client, world, lost_notify["id"], "completed")
    assert completed["details"]["reconciled_by"] == view["id"]
    trail = (await client.get(f"/v1/transactions/{lost_notify['id']}/audit", headers=world.auth)).json()["items"]
    assert (trail[-1]["actor"], trail[-1]["action"]) == ("reconciliation", "complete")
    for untouched, status in ((attention, "completed"), (missing, "completed"), (open_both_sides, "pending")):
        current = (await client.get(f"/v1/transactions/{untouched['id']}", headers=world.auth)).json()
        assert current["status"] == status, "only the safe fix is applied"

    # One reconciliation.mismatch per difference, subject = our transaction.
    for tx, kind in (
        (amount, "amount_differs"),
        (attention, "status_differs"),
        (refund, "refund_differs"),
        (missing, "missing_there"),
        (lost_notify, "status_differs"),
    ):
        event = await events.wait_for(tx["id"], "reconciliation.mismatch")
        assert event.body["data"]["kind"] == kind and event.body["data"]["reconciliation_id"] == view["id"]
        assert event.body["data"]["gateway"] == "octo" and len(events.of(tx["id"], "reconciliation.mismatch")) == 1
    assert events.of(agree["id"], "reconciliation.mismatch") == []

    # The status check is the create repeated: same body, no new payment at Octo, nothing sent for the failed one.
    asked = octo.calls("/prepare_payment", shop_transaction_id=agree["id"])
    assert len(asked) == 2 and asked[0].body == asked[1].body
    assert len(octo.calls("/prepare_payment", shop_transaction_id=never_reached["id"])) == 1, "only its create"
    assert len(octo.payments) == payments_before


async def test_a_settlement_file_finds_octo_payments_by_their_payment_uuid(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    """`reference_paths`: a file row that carries only Octo's payment id is matched through details."""
    world = await make_tenant(engine, cipher, configs={"octo": octo.account_config()})
    tx = await paid(client, world, octo, 150_000)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["gateway_id", "reference", "amount", "currency", "status", "refunded_amount"])
    writer.writerow([octo.payment(tx["id"]).uuid, "", "150000", "UZS", "succeeded", "0"])
    writer.writerow(["not-an-octo-payment", "", "99000", "UZS", "succeeded", "0"])

    view = await reconcile(client, world, world.accounts["octo"], file=out.getvalue().encode())

    assert view["status"] == "completed", view
    assert view["counts"]["matched"] == 1 and view["counts"]["by_kind"] == {"missing_here": 1}
    [unknown] = view["differences"]
    assert unknown["reference"] == "not-an-octo-payment" and unknown["transaction_id"] is None
