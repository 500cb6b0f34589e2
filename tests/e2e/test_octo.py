"""Octo end to end: real HTTP through the ingress, RabbitMQ and the processor, against a fake Octo server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.fakes.octo import FakeOcto
from tests.support.http import create, until
from tests.support.system import System
from tests.support.world import TenantWorld, make_tenant

TASHKENT = timezone(timedelta(hours=5))


@pytest.fixture
def octo() -> Iterator[FakeOcto]:
    fake = FakeOcto().start()
    yield fake
    fake.stop()


async def octo_world(engine: AsyncEngine, cipher: Cipher, fake: FakeOcto, **options: Any) -> TenantWorld:
    return await make_tenant(engine, cipher, configs={"octo": fake.account_config(**options)})


async def view(client: httpx.AsyncClient, world: TenantWorld, transaction_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/transactions/{transaction_id}", headers=world.auth)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def audit(client: httpx.AsyncClient, world: TenantWorld, transaction_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/transactions/{transaction_id}/audit", headers=world.auth)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def eventually(
    client: httpx.AsyncClient, world: TenantWorld, transaction_id: str, ready: Any, timeout: float = 20.0
) -> dict[str, Any]:
    """The transaction once `ready(view)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        current = await view(client, world, transaction_id)
        if ready(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"transaction {transaction_id} never got there; last seen {current}")
        await asyncio.sleep(0.1)


async def paid_through_octo(
    client: httpx.AsyncClient, world: TenantWorld, fake: FakeOcto, amount: int = 150_000
) -> dict[str, Any]:
    tx = await create(client, world, gateway="octo", amount=amount)
    fake.set_status(tx["id"], "succeeded")
    answer = await fake.notify(tx["id"])
    assert (answer.status_code, answer.json()) == (200, {"error": 0})
    return await until(client, world, tx["id"], "completed")


async def test_create_waits_for_octos_link_and_sends_every_field(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, system: System
) -> None:
    world = await octo_world(engine, cipher, octo, test=True, language="ru")
    details = {
        "description": "Order 1001",
        "return_url": "https://shop.example.uz/return",
        "user_data": {"user_id": "u-7", "phone": "998901234567"},
        "basket": [{"position_desc": "Tea", "count": 2, "price": 750, "spic": "N1"}],
        "payment_methods": [{"method": "bank_card"}, {"method": "uzcard"}],
        "ttl": 15,
        "language": "uz",
    }

    tx = await create(client, world, gateway="octo", amount=150_000, details=details)

    payment = octo.payment(tx["id"])
    assert tx["payment_url"] == payment.pay_url and tx["status"] == "pending"
    [call] = octo.calls("/prepare_payment", shop_transaction_id=tx["id"])
    created = datetime.fromisoformat(tx["created_at"].replace("Z", "+00:00"))
    assert call.body == {
        "octo_shop_id": octo.shop_id,
        "octo_secret": octo.secret,
        "shop_transaction_id": tx["id"],
        "auto_capture": True,
        "test": True,
        "init_time": created.astimezone(TASHKENT).strftime("%Y-%m-%d %H:%M:%S"),
        "total_sum": Decimal("1500.00"),
        "currency": "UZS",
        "description": "Order 1001",
        "notify_url": f"{system.base_url}/webhooks/octo/{world.accounts['octo']}",
        **details,  # the transaction's language wins over the account's
    }
    assert tx["details"]["octo_payment_uuid"] == payment.uuid
    assert (tx["details"]["status"], tx["details"]["shop_transaction_id"]) == ("created", tx["id"])


async def test_older_top_level_answers_are_understood(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    octo.legacy_answers = True
    world = await octo_world(engine, cipher, octo)

    tx = await create(client, world, gateway="octo", amount=99_900, currency="USD")

    payment = octo.payment(tx["id"])
    assert tx["payment_url"] == payment.pay_url and tx["details"]["octo_payment_uuid"] == payment.uuid
    assert octo.calls("/prepare_payment", shop_transaction_id=tx["id"])[0].body["total_sum"] == Decimal("999.00")


async def test_a_signed_success_completes_the_payment_with_its_card_data(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, events: EventLog
) -> None:
    world = await octo_world(engine, cipher, octo)

    done = await paid_through_octo(client, world, octo)

    payment = octo.payment(done["id"])
    assert {k: done["details"][k] for k in CARD_FACTS} == {
        "octo_payment_uuid": payment.uuid,
        "status": "succeeded",
        "card_type": "uzcard",
        "card_country": "UZ",
        "masked_pan": "860049******6478",
        "rrn": "512345678901",
        "risk_level": 1,
        "total_sum": "1500.00",
        "transfer_sum": "1470.00",
        "refunded_sum": "0",
    }
    completed = await events.wait_for(done["id"], "transaction.completed")
    assert completed.body["data"]["details"]["masked_pan"] == "860049******6478"
    assert [e["actor"] for e in await audit(client, world, done["id"]) if e["action"] == "complete"] == [
        f"gateway:octo:{world.accounts['octo']}"
    ]


CARD_FACTS = (
    "octo_payment_uuid", "status", "card_type", "card_country", "masked_pan", "rrn", "risk_level", "total_sum",
    "transfer_sum", "refunded_sum",
)  # fmt: skip


async def test_a_duplicate_notify_changes_nothing_and_gets_the_same_answer(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, events: EventLog
) -> None:
    world = await octo_world(engine, cipher, octo)
    done = await paid_through_octo(client, world, octo)
    trail = await audit(client, world, done["id"])

    answers = [await octo.notify(done["id"]) for _ in range(2)]

    assert {(a.status_code, a.content) for a in answers} == {(200, b'{"error":0}')}
    assert await view(client, world, done["id"]) == done
    assert await audit(client, world, done["id"]) == trail
    await asyncio.sleep(1.0)  # let any stray event reach the listener
    assert len(events.of(done["id"], "transaction.completed")) == 1
    assert not events.of(done["id"], "transaction.updated")[1:], "only the payment link was an update"


async def test_a_forged_notify_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo)
    tx = await create(client, world, gateway="octo")
    payment = octo.set_status(tx["id"], "succeeded")
    before, trail = await view(client, world, tx["id"]), await audit(client, world, tx["id"])

    forgeries = [
        {"signature": octo.sign(payment.uuid, "failed")},  # signed for another status
        {"signature": "0" * 40},
        {"signature": octo.sign(payment.uuid, "succeeded"), "octo_payment_UUID": str(uuid.uuid4())},
        {"signature": FakeOcto().sign(payment.uuid, "succeeded")},  # another shop's unique_key
        {"signature": ""},
    ]
    for forged in forgeries:
        answer = await octo.notify(tx["id"], "succeeded", **forged)
        assert answer.status_code in {400, 401}, answer.text
        body = answer.json()
        if answer.status_code == 401:  # a bad signature: the same problem+json as an unknown account
            assert body["code"] == "unauthenticated", body
        else:  # unreadable: Octo's own shape
            assert body["error"] != 0 and body["errMessage"], body

    assert await view(client, world, tx["id"]) == before
    assert await audit(client, world, tx["id"]) == trail
    lower = octo.sign(payment.uuid, "wait_user_action").lower()
    genuine = await octo.notify(tx["id"], "wait_user_action", signature=lower)
    assert genuine.status_code == 200, "Octo's signature compares case-insensitively"
    assert (await view(client, world, tx["id"]))["details"]["status"] == "wait_user_action"


async def test_two_stage_capture_is_answered_at_notify(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo, auto_capture=False)
    tx = await create(client, world, gateway="octo")
    assert octo.calls("/prepare_payment", shop_transaction_id=tx["id"])[0].body["auto_capture"] is False

    octo.set_status(tx["id"], "waiting_for_capture")
    answer = await octo.notify(tx["id"])

    assert (answer.status_code, answer.json()) == (200, {"accept_status": "capture"})
    held = await view(client, world, tx["id"])
    assert held["status"] == "pending"
    assert [held["details"][k] for k in ("status", "accept_status", "accept_outcome")] == [
        "waiting_for_capture",
        "capture",
        "answered",
    ]
    assert (await octo.notify(tx["id"])).json() == {"accept_status": "capture"}, "a resend gets the same answer"
    refused = await client.post(f"/v1/transactions/{tx['id']}/cancel", json={}, headers=world.auth)
    assert refused.status_code == 202  # accepted here, refused by the processor: Octo is capturing
    await asyncio.sleep(1.5)
    assert (await view(client, world, tx["id"]))["status"] == "pending"
    octo.set_status(tx["id"], "succeeded")
    assert (await octo.notify(tx["id"])).status_code == 200
    done = await until(client, world, tx["id"], "completed")
    assert done["details"]["status"] == "succeeded"
    assert octo.calls("/set_accept") == []


async def test_two_stage_is_answered_cancel_when_we_canceled_meanwhile(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo, auto_capture=False)
    tx = await create(client, world, gateway="octo")
    canceled = await client.post(
        f"/v1/transactions/{tx['id']}/cancel", json={"reason": "out of stock"}, headers=world.auth
    )
    assert canceled.status_code == 202
    await until(client, world, tx["id"], "canceled")

    octo.set_status(tx["id"], "waiting_for_capture")
    answer = await octo.notify(tx["id"])

    assert (answer.status_code, answer.json()) == (200, {"accept_status": "cancel"})
    after = await view(client, world, tx["id"])
    assert after["status"] == "canceled" and after["details"]["accept_status"] == "cancel"
    assert octo.calls("/set_accept") == []


async def test_a_later_capture_with_a_partial_final_amount_reaches_set_accept(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo, auto_capture=False, capture_on_notify=False)
    tx = await create(client, world, gateway="octo", amount=150_000)
    complete = f"/v1/transactions/{tx['id']}/complete"
    early = await client.post(complete, json={}, headers=world.auth)
    assert early.status_code == 409, "nothing is held yet"

    octo.set_status(tx["id"], "waiting_for_capture")
    answer = await octo.notify(tx["id"])
    assert (answer.status_code, answer.json()) == (200, {"error": 0}), "no decision yet: no accept_status"
    held = await view(client, world, tx["id"])
    assert held["status"] == "pending" and "accept_status" not in held["details"]
    assert (await client.post(complete, json={"amount": 150_001}, headers=world.auth)).status_code == 422
    assert (await client.post(complete, json={"amount": 100_000}, headers=world.auth)).status_code == 202

    done = await until(client, world, tx["id"], "completed")
    payment = octo.payment(tx["id"])
    [call] = octo.calls("/set_accept")
    assert call.body == {
        "octo_shop_id": octo.shop_id,
        "octo_secret": octo.secret,
        "octo_payment_UUID": payment.uuid,
        "accept_status": "capture",
        "final_amount": Decimal("1000.00"),
    }
    assert payment.total_sum == Decimal("1000.00")
    assert [done["details"][k] for k in ("final_amount", "accept_outcome", "status")] == [100_000, "sent", "succeeded"]
    assert (await octo.notify(tx["id"])).status_code == 200, "Octo's own succeeded notify follows"
    with_card = await view(client, world, tx["id"])
    assert with_card["status"] == "completed" and with_card["details"]["masked_pan"] == "860049******6478"
    trail = await audit(client, world, tx["id"])
    assert (await octo.notify(tx["id"])).status_code == 200 and await audit(client, world, tx["id"]) == trail

    # Octo took 1000.00 of the 1500.00 authorised: the payment is worth what was captured, and more than
    # that is refused before anything reaches Octo.
    assert with_card["amount"] == 100_000 and with_card["details"]["authorized_amount"] == 150_000
    too_much = await client.post(f"/v1/transactions/{tx['id']}/refunds", json={"amount": 100_001}, headers=world.auth)
    assert too_much.status_code == 422 and too_much.json()["code"] == "refund_exceeds_remainder"
    assert octo.calls("/refund") == []


async def test_cancel_releases_a_held_payment_with_set_accept(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo, auto_capture=False, capture_on_notify=False)
    tx = await create(client, world, gateway="octo")
    octo.set_status(tx["id"], "waiting_for_capture")
    assert (await octo.notify(tx["id"])).json() == {"error": 0}

    canceled = await client.post(f"/v1/transactions/{tx['id']}/cancel", json={}, headers=world.auth)

    assert canceled.status_code == 202
    released = await eventually(client, world, tx["id"], lambda v: v["details"].get("accept_outcome") == "sent")
    assert released["status"] == "canceled" and released["details"]["accept_status"] == "cancel"
    payment = octo.payment(tx["id"])
    [call] = octo.calls("/set_accept")
    assert call.body == {
        "octo_shop_id": octo.shop_id,
        "octo_secret": octo.secret,
        "octo_payment_UUID": payment.uuid,
        "accept_status": "cancel",
    }
    assert payment.status == "canceled"
    assert (await octo.notify(tx["id"])).status_code == 200
    assert (await view(client, world, tx["id"]))["status"] == "canceled"


async def test_refunds_partial_then_full_with_our_refund_id(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo)
    done = await paid_through_octo(client, world, octo, amount=150_000)
    refunds = f"/v1/transactions/{done['id']}/refunds"
    payment = octo.payment(done["id"])

    first = await client.post(refunds, json={"amount": 50_000}, headers=world.auth)
    assert first.status_code == 202
    await until(client, world, done["id"], "partially_refunded")
    past = await client.post(refunds, json={"amount": 100_001}, headers=world.auth)
    assert past.status_code == 422 and past.json()["code"] == "refund_exceeds_remainder"
    rest = await client.post(refunds, json={}, headers=world.auth)
    assert rest.status_code == 202 and rest.json()["amount"] == 100_000
    final = await until(client, world, done["id"], "refunded")

    calls = octo.calls("/refund", octo_payment_UUID=payment.uuid)
    assert [c.body for c in calls] == [
        {"octo_shop_id": octo.shop_id, "octo_secret": octo.secret, "octo_payment_UUID": payment.uuid, **sent}
        for sent in (
            {"shop_refund_id": first.json()["id"], "amount": Decimal("500.00")},
            {"shop_refund_id": rest.json()["id"], "amount": Decimal("1000.00")},
        )
    ]
    assert final["refunded_amount"] == 150_000 and payment.refunded_sum == Decimal("1500.00")
    listed = (await client.get(refunds, headers=world.auth)).json()["items"]
    assert sorted((r["amount"], r["status"]) for r in listed) == [(50_000, "succeeded"), (100_000, "succeeded")]
    assert (await client.post(refunds, json={"amount": 1}, headers=world.auth)).status_code == 409
    assert len(octo.calls("/refund")) == 2, "refused refunds never reach Octo"


async def test_octo_answering_503_for_a_while_creates_the_payment_once(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo)
    octo.fail_next(6)
    body = {"gateway": "octo", "account_id": str(world.accounts["octo"]), "amount": 250_000, "currency": "UZS"}

    response = await client.post("/v1/transactions?wait=true", json=body, headers=world.auth)

    assert response.status_code in (201, 202), response.text
    tx = await eventually(client, world, response.json()["id"], lambda v: v["payment_url"])
    calls = octo.calls("/prepare_payment", shop_transaction_id=tx["id"])
    assert [c.answered for c in calls[:7]] == [503] * 6 + [200]
    assert len({repr(c.body) for c in calls}) == 1, "every attempt asks for the very same payment"
    assert len(octo.payments) == 1 and tx["payment_url"] == octo.payment(tx["id"]).pay_url


async def test_a_worker_killed_during_the_call_heals_without_a_second_payment(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, system: System
) -> None:
    world = await octo_world(engine, cipher, octo)
    octo.hold_next_prepare(8.0)
    body = {"gateway": "octo", "account_id": str(world.accounts["octo"]), "amount": 70_000, "currency": "UZS"}
    accepted = await client.post("/v1/transactions", json=body, headers=world.auth)
    assert accepted.status_code == 202
    tx_id = accepted.json()["id"]
    for _ in range(200):
        if octo.calls("/prepare_payment", shop_transaction_id=tx_id):
            break
        await asyncio.sleep(0.05)

    system.kill("processor")  # SIGKILL while Octo's answer is still on its way
    try:
        [in_flight] = octo.calls("/prepare_payment", shop_transaction_id=tx_id)
        assert in_flight.answered == 0, "the worker died before it could hear the answer"
        assert (await view(client, world, tx_id))["payment_url"] is None
    finally:
        system.start("processor")

    healed = await eventually(client, world, tx_id, lambda v: v["payment_url"], timeout=60)
    calls = octo.calls("/prepare_payment", shop_transaction_id=tx_id)
    assert len(calls) >= 2 and len({repr(c.body) for c in calls}) == 1
    assert len(octo.payments) == 1, "created exactly once at the provider"
    payment = octo.payment(tx_id)
    assert healed["payment_url"] == payment.pay_url and healed["details"]["octo_payment_uuid"] == payment.uuid
    updates = [e for e in await audit(client, world, tx_id) if e["action"] == "update"]
    assert [u["after"]["payment_url"] for u in updates] == [payment.pay_url]
