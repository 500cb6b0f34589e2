"""Fiscal receipts through the running services: checked at creation, Payme's detail, Click's OFD submission."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.click.shop import Operation
from shared.gateways.click.simulate import click_request, new_click_ids
from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.fakes.click_merchant import SUCCESSFUL, ClickMerchantFake
from tests.support.http import create, until
from tests.support.payme import Payme, now_ms, payme_id, payme_tenant
from tests.support.system import System
from tests.support.world import TenantWorld, make_tenant

IKPU = "10899002001000000"
RECEIPT = {
    "receipt_type": 0,
    "items": [
        {"discount": 10_000, "title": "Kitob", "price": 505_000, "count": 2, "code": IKPU, "units": 241092,
         "vat_percent": 12, "package_code": "1505913"},
    ],
    "shipping": {"title": "Yetkazib berish", "price": 500_000},
}  # fmt: skip
AMOUNT = 1_500_000  # 2 x 505 000 - 10 000 + 500 000 tiyin: 15 000 UZS


async def post_payment(client: httpx.AsyncClient, world: TenantWorld, gateway: str, **details: Any) -> httpx.Response:
    body = {"gateway": gateway, "amount": AMOUNT, "currency": "UZS", "details": details}
    return await client.post(
        "/v1/transactions", json=body, headers={**world.auth, "Idempotency-Key": str(uuid.uuid4())}
    )


async def test_a_receipt_is_checked_at_creation_and_a_fiscal_account_requires_one(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher, fiscal_required=True)
    missing = await post_payment(client, world, "payme")
    assert missing.status_code == 422 and missing.json()["code"] == "receipt_required"
    wrong_code = json.loads(json.dumps(RECEIPT))
    wrong_code["items"].append({**wrong_code["items"][0], "code": "1089900200100"})
    bad = await post_payment(client, world, "payme", receipt=wrong_code)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_receipt"
    assert "details.receipt.items[1].code" in bad.json()["detail"]
    short = await post_payment(client, world, "payme", receipt={**RECEIPT, "shipping": {"title": "x", "price": 1}})
    assert short.status_code == 422 and f"not the amount {AMOUNT}" in short.json()["detail"]


async def test_payme_check_perform_answers_the_receipt_and_set_fiscal_data_is_kept(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher, fiscal_required=True)
    order = f"order-{secrets.token_hex(4)}"
    tx = await create(
        client, world, gateway="payme", amount=AMOUNT, details={"account": {"order_id": order}, "receipt": RECEIPT}
    )
    payme = Payme(client, world.accounts["payme"])
    checked = await payme.result("CheckPerformTransaction", {"amount": AMOUNT, "account": {"order_id": order}})
    assert checked == {"allow": True, "detail": RECEIPT}
    ours = payme_id()
    await payme.result(
        "CreateTransaction", {"id": ours, "time": now_ms(), "amount": AMOUNT, "account": {"order_id": order}}
    )
    await payme.result("PerformTransaction", {"id": ours})
    registered = {
        "receipt_id": 1234,
        "status_code": 0,
        "message": "accepted",
        "terminal_id": "EP000000000025",
        "fiscal_sign": "000000000017",
        "qr_code_url": "https://ofd.soliq.uz/check?t=1",
        "date": "20250528120000",
    }
    assert await payme.result("SetFiscalData", {"id": ours, "type": "PERFORM", "fiscal_data": registered}) == {
        "success": True
    }
    shown = await until(client, world, tx["id"], "completed")
    assert shown["details"]["receipt"] == RECEIPT
    for _ in range(50):
        shown = (await client.get(f"/v1/transactions/{tx['id']}", headers=world.auth)).json()
        if "fiscal_data" in shown["details"]:
            break
        await asyncio.sleep(0.1)
    assert shown["details"]["fiscal_data"] == {"perform": registered}


@pytest.fixture
def click_api() -> Iterator[ClickMerchantFake]:
    merchant = ClickMerchantFake(
        merchant_user_id=700 + secrets.randbelow(1000),
        secret_key=secrets.token_hex(16),
        service_id=10_000 + secrets.randbelow(80_000),
    )
    merchant.start()
    yield merchant
    merchant.stop()


async def pay_by_click(client: httpx.AsyncClient, world: TenantWorld, api: ClickMerchantFake) -> dict[str, Any]:
    tx = await create(client, world, gateway="click", amount=AMOUNT, details={"receipt": RECEIPT})
    ids = new_click_ids()
    api.add_payment(ids[1], SUCCESSFUL)
    path = f"/webhooks/click/{world.accounts['click']}"
    common = {"service_id": api.service_id, "merchant_trans_id": tx["id"], "amount": "15000.00"}
    prepare = click_request(api.secret_key, Operation.PREPARE, click_trans_id=ids[0], click_paydoc_id=ids[1], **common)
    prepared = (await client.post(f"{path}/prepare", data=prepare)).json()
    assert prepared["error"] == 0, prepared
    complete = click_request(
        api.secret_key,
        Operation.COMPLETE,
        click_trans_id=ids[0],
        click_paydoc_id=ids[1],
        merchant_prepare_id=prepared["merchant_prepare_id"],
        **common,
    )
    completed = (await client.post(f"{path}/complete", data=complete)).json()
    assert completed["error"] == 0, completed
    return tx


async def fiscal_event(events: EventLog, transaction_id: str, status: str) -> dict[str, Any]:
    for _ in range(200):
        for received in events.of(transaction_id, "transaction.updated"):
            fiscal = received.body["data"]["details"].get("fiscal") or {}
            if fiscal.get("status") == status:
                return dict(fiscal)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no transaction.updated with fiscal {status} for {transaction_id}")


async def test_a_paid_click_receipt_is_submitted_and_a_refusal_can_be_resubmitted(
    system: System,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    cipher: Cipher,
    events: EventLog,
    click_api: ClickMerchantFake,
) -> None:
    config = {
        "service_id": click_api.service_id,
        "merchant_id": 1,
        "merchant_user_id": click_api.merchant_user_id,
        "secret_key": click_api.secret_key,
        "api_base": click_api.url,
        "tin": "123456789",
        "fiscal_required": True,
    }
    world = await make_tenant(engine, cipher, configs={"click": config})
    click_api.fail_next(1, status=503)
    tx = await pay_by_click(client, world, click_api)
    completed = await events.wait_for(tx["id"], "transaction.completed")
    assert completed.body["data"]["details"]["fiscal"]["status"] == "pending", "the intent comes with the payment"
    submitted = await fiscal_event(events, tx["id"], "submitted")
    assert submitted["error_code"] == 0
    [sent] = click_api.submissions
    assert sent["received_card"] == AMOUNT and sent["items"][0]["VAT"] == 107_143

    click_api.refuse_items = 10
    refused_tx = await pay_by_click(client, world, click_api)
    refused = await fiscal_event(events, refused_tx["id"], "failed")
    assert refused["error_code"] != 0 and refused["error_note"]
    shown = (await client.get(f"/v1/transactions/{refused_tx['id']}", headers=world.auth)).json()
    assert shown["details"]["fiscal"]["status"] == "failed"

    click_api.refuse_items = 0
    command = [sys.executable, "-m", "shared.cli.main", "fiscal", "resubmit", "--transaction", refused_tx["id"]]
    done = await asyncio.to_thread(subprocess.run, command, env=system.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["fiscal"]["status"] == "submitted"
    await fiscal_event(events, refused_tx["id"], "submitted")
    assert len(click_api.submissions) == 2
