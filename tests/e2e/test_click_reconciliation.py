"""Click as a reconciliation source, end to end: `POST /v1/reconciliations` through the ingress, the run in the
processor asking the fake Merchant API's payment status for each of our payments that reached Click, the report,
the fix, the audit trail and the `reconciliation.mismatch` events."""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.click.simulate import new_click_ids
from shared.security.cipher import Cipher
from tests.e2e.test_click import Shop, click_config
from tests.support.events import EventLog
from tests.support.fakes.click_merchant import REVERSED, SUCCESSFUL, ClickMerchantFake
from tests.support.http import until
from tests.support.reconciliation import by_transaction, reconcile
from tests.support.world import make_tenant

PROCESSING = 1


@pytest.fixture
def merchant_api() -> Iterator[ClickMerchantFake]:
    fake = ClickMerchantFake(
        merchant_user_id=700 + secrets.randbelow(1000),
        secret_key=secrets.token_hex(16),
        service_id=10_000 + secrets.randbelow(80_000),
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def click_shop(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, merchant_api: ClickMerchantFake
) -> AsyncIterator[Shop]:
    config = click_config(merchant_api)
    world = await make_tenant(engine, cipher, configs={"click": config})
    yield Shop(client, world, config)


def status_calls(fake: ClickMerchantFake, shop: Shop) -> list[str]:
    prefix = f"/v2/merchant/payment/status/{shop.config['service_id']}/"
    return [call.path.removeprefix(prefix) for call in fake.calls("GET")]


async def test_the_payment_status_of_each_payment_reports_every_difference_and_fixes_the_safe_one(
    click_shop: Shop, merchant_api: ClickMerchantFake, events: EventLog
) -> None:
    shop, fake = click_shop, merchant_api
    agree, agree_ids = await shop.paid()
    fake.add_payment(agree_ids[1], SUCCESSFUL, amount=Decimal("15000.00"))
    amount, amount_ids = await shop.paid(merchant_trans_id=f"order-{uuid.uuid4().hex[:8]}")
    fake.add_payment(amount_ids[1], SUCCESSFUL, amount=Decimal("14000.00"))
    attention, attention_ids = await shop.paid()
    fake.add_payment(attention_ids[1], REVERSED)  # Click says not paid (or reversed behind our back)
    reversed_, reversed_ids = await shop.paid()
    fake.add_payment(reversed_ids[1], SUCCESSFUL)
    assert (await shop.refund(reversed_["id"], {})).status_code == 202  # our full reversal
    await until(shop.client, shop.world, reversed_["id"], "refunded")
    refund, refund_ids = await shop.paid()
    fake.add_payment(refund_ids[1], SUCCESSFUL)
    assert (await shop.refund(refund["id"], {})).status_code == 202
    await until(shop.client, shop.world, refund["id"], "refunded")
    fake.add_payment(refund_ids[1], REVERSED, amount=Decimal("14500.00"))  # Click gave back less than we think
    missing, missing_ids = await shop.paid()  # Click does not know its payment
    never_prepared = await shop.order()
    processing = await shop.order()
    processing_ids = new_click_ids()
    await shop.prepare(processing["id"], processing_ids)
    fake.add_payment(processing_ids[1], PROCESSING)
    lost_complete = await shop.order()  # paid at Click; its Complete never reached us
    lost_ids = new_click_ids()
    await shop.prepare(lost_complete["id"], lost_ids)
    fake.add_payment(lost_ids[1], SUCCESSFUL, amount=Decimal("15000.00"))
    calls_before = len(fake.calls("GET"))

    view = await reconcile(shop.client, shop.world, shop.account_id)

    assert view["status"] == "completed", view
    assert view["gateway"] == "click" and view["source"] == "api"
    assert view["counts"] == {
        "records": 7,
        "matched": 7,
        "differences": 6,
        "fixed": 1,
        "by_kind": {"amount_differs": 2, "status_differs": 2, "refund_differs": 1, "missing_there": 1},
    }
    found = by_transaction(view)
    assert set(found) == {amount["id"], attention["id"], refund["id"], missing["id"], lost_complete["id"]}

    [amount_differs] = found[amount["id"]]
    assert (amount_differs["kind"], amount_differs["resolution"]) == ("amount_differs", "needs_attention")
    assert amount_differs["reference"] == str(amount_ids[0])
    assert amount_differs["theirs"] == {
        "reference": str(amount_ids[0]),
        "merchant_reference": amount["details"]["merchant_trans_id"],
        "transaction_id": amount["id"],
        "amount": 1_400_000,
        "refunded_amount": None,
        "currency": "UZS",
        "status": "completed",
    }
    [status_attention] = found[attention["id"]]
    assert (status_attention["kind"], status_attention["resolution"]) == ("status_differs", "needs_attention")
    assert (status_attention["ours"]["status"], status_attention["theirs"]["status"]) == ("completed", "failed")
    # Click reverses whole payments only: a reversal of another sum differs in amount and in refund.
    assert sorted(d["kind"] for d in found[refund["id"]]) == ["amount_differs", "refund_differs"]
    [refund_differs] = [d for d in found[refund["id"]] if d["kind"] == "refund_differs"]
    assert refund_differs["theirs"]["status"] == "refunded"
    assert (refund_differs["ours"]["refunded_amount"], refund_differs["theirs"]["refunded_amount"]) == (
        1_500_000,
        1_450_000,
    )
    [missing_there] = found[missing["id"]]
    assert missing_there["kind"] == "missing_there" and missing_there["theirs"] is None
    [fixed] = found[lost_complete["id"]]
    assert (fixed["kind"], fixed["resolution"]) == ("status_differs", "fixed")
    assert (fixed["ours"]["status"], fixed["theirs"]["status"]) == ("pending", "completed")

    completed = await until(shop.client, shop.world, lost_complete["id"], "completed")
    assert completed["details"]["reconciled_by"] == view["id"]
    trail = await shop.audit(lost_complete["id"])
    assert (trail[-1]["actor"], trail[-1]["action"]) == ("reconciliation", "complete")
    for untouched, status in ((attention, "completed"), (never_prepared, "pending"), (processing, "pending")):
        assert (await shop.tx(untouched["id"]))["status"] == status, "only the safe fix is applied"

    for tx, kinds in (
        (amount, {"amount_differs"}),
        (attention, {"status_differs"}),
        (refund, {"amount_differs", "refund_differs"}),
        (missing, {"missing_there"}),
        (lost_complete, {"status_differs"}),
    ):
        await events.wait_for(tx["id"], "reconciliation.mismatch")
        published = events.of(tx["id"], "reconciliation.mismatch")
        assert {e.body["data"]["kind"] for e in published} == kinds and len(published) == len(kinds)
        assert all(e.body["data"]["reconciliation_id"] == view["id"] for e in published)
    for agreeing in (agree, reversed_, processing):
        assert events.of(agreeing["id"], "reconciliation.mismatch") == []

    # One status call per payment that reached Click (by its click_paydoc_id); none for the order never prepared.
    asked = status_calls(fake, shop)[calls_before:]
    paydocs = [agree_ids, amount_ids, attention_ids, reversed_ids, refund_ids, missing_ids, processing_ids, lost_ids]
    assert sorted(asked) == sorted(str(ids[1]) for ids in paydocs)
    assert all(call.authorized for call in fake.calls("GET"))


async def test_a_registry_file_finds_click_payments_by_click_trans_id_or_merchant_trans_id(
    click_shop: Shop,
) -> None:
    """`reference_paths`: rows that carry only Click's id, or only our order reference, are matched through details."""
    _, by_click_ids = await click_shop.paid()
    reference = f"order-{uuid.uuid4().hex[:8]}"
    await click_shop.paid(merchant_trans_id=reference)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["click_trans_id", "merchant_trans_id", "amount", "status"])
    writer.writerow([str(by_click_ids[0]), "", "15000.00", "success"])
    writer.writerow(["1", reference, "15000.00", "success"])
    writer.writerow(["2", "order-unknown-to-us", "15000.00", "success"])

    view = await reconcile(click_shop.client, click_shop.world, click_shop.account_id, file=out.getvalue().encode())

    assert view["status"] == "completed", view
    assert view["counts"]["matched"] == 2, "both of our payments were found"
    assert view["counts"]["by_kind"] == {"missing_here": 1}
    [unknown] = view["differences"]
    assert unknown["theirs"]["merchant_reference"] == "order-unknown-to-us" and unknown["transaction_id"] is None
