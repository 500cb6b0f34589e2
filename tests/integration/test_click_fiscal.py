"""Click's fiscal receipts against a fake Merchant API on 127.0.0.1: intent, call, outcome, and every way back."""

from __future__ import annotations

import asyncio
import functools
import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.fiscal import FiscalSubmissions, intent
from shared.gateways.click.merchant_api import MerchantApi, RetryPolicy
from shared.persistence.tables import outbox
from shared.security.cipher import Cipher
from tests.integration.conftest import UowFactory
from tests.support.fakes.click_merchant import FISCAL_REFUSED, SUCCESSFUL, ClickMerchantFake
from tests.support.world import TenantWorld, make_tenant

FAST = RetryPolicy(attempts=3, multiplier_s=0.01, max_wait_s=0.05, timeout_s=2.0)
IKPU = "10899002001000000"
RECEIPT = {
    "receipt_type": 0,
    "items": [
        {"title": "Kitob", "price": 505_000, "count": 2, "code": IKPU, "package_code": "1505913", "vat_percent": 12,
         "discount": 10_000}
    ],
}  # fmt: skip


@pytest.fixture
def fake() -> Iterator[ClickMerchantFake]:
    merchant = ClickMerchantFake(
        merchant_user_id=700 + secrets.randbelow(1000),
        secret_key=secrets.token_hex(16),
        service_id=10_000 + secrets.randbelow(80_000),
    )
    merchant.start()
    yield merchant
    merchant.stop()


@pytest.fixture
async def shop(engine: AsyncEngine, cipher: Cipher, fake: ClickMerchantFake) -> TenantWorld:
    config = {
        "service_id": fake.service_id,
        "merchant_id": 1,
        "merchant_user_id": fake.merchant_user_id,
        "secret_key": fake.secret_key,
        "api_base": fake.url,
        "tin": "123456789",
    }
    return await make_tenant(engine, cipher, configs={"click": config})


def submissions(uow_factory: UowFactory, engine: AsyncEngine) -> FiscalSubmissions:
    return FiscalSubmissions(uow_factory, engine, utc_now, api=functools.partial(MerchantApi, policy=FAST))


async def paid_with_receipt(uow_factory: UowFactory, shop: TenantWorld, fake: ClickMerchantFake) -> Transaction:
    """A Click payment completed with its receipt's intent, as the Complete handler commits it."""
    paydoc = 3_000_000_000 + secrets.randbelow(10**9)
    fake.add_payment(paydoc, SUCCESSFUL)
    now = utc_now()
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=shop.tenant_id,
        account_id=shop.accounts["click"],
        gateway="click",
        money=Money.of(1_000_000, "UZS"),
        details={"receipt": RECEIPT},
        metadata={},
        at=now,
    )
    tx.complete(now, {"click_paydoc_id": paydoc, **intent(now)})
    async with uow_factory() as uow:
        uow.transactions(shop.tenant_id).add(tx)
        await uow.commit(actor="test", request_id=None)
    return tx


async def fiscal_of(uow_factory: UowFactory, tx: Transaction) -> dict[str, Any]:
    async with uow_factory() as uow:
        found = await uow.transactions(tx.tenant_id).get(tx.id, lock=False)
    assert found is not None
    return dict(found.details["fiscal"])


async def updated_events(engine: AsyncEngine, tx: Transaction) -> list[dict[str, Any]]:
    query = (
        select(outbox.c.body)
        .where(outbox.c.body["subject"].astext == str(tx.id), outbox.c.routing_key == "transaction.updated")
        .order_by(outbox.c.id)
    )
    async with engine.connect() as conn:
        return [body["data"] for body in (await conn.execute(query)).scalars()]


async def test_a_5xx_then_success_submits_the_items_once_and_an_event_carries_it(
    uow_factory: UowFactory, engine: AsyncEngine, shop: TenantWorld, fake: ClickMerchantFake
) -> None:
    tx = await paid_with_receipt(uow_factory, shop, fake)
    fake.fail_next(1, status=503)
    done = await submissions(uow_factory, engine).submit(tx.tenant_id, tx.id)
    assert done is not None and done["status"] == "submitted" and done["error_code"] == 0
    assert len([c for c in fake.calls("POST") if c.authorized]) == 2
    [sent] = fake.submissions
    assert sent["payment_id"] == tx.details["click_paydoc_id"] and sent["received_card"] == 1_000_000
    assert sent["items"][0]["VAT"] == 107_143 and sent["items"][0]["CommissionInfo"] == {"TIN": "123456789"}
    assert (await fiscal_of(uow_factory, tx))["status"] == "submitted"
    [event] = await updated_events(engine, tx)
    assert event["details"]["fiscal"]["status"] == "submitted"
    assert await submissions(uow_factory, engine).submit(tx.tenant_id, tx.id) is None, "nothing is owed any more"
    assert len(fake.submissions) == 1


async def test_a_refusal_is_recorded_visible_and_a_resubmission_goes_through(
    uow_factory: UowFactory, engine: AsyncEngine, shop: TenantWorld, fake: ClickMerchantFake
) -> None:
    tx = await paid_with_receipt(uow_factory, shop, fake)
    fake.refuse_items = 3  # every attempt of the first round
    fiscal = submissions(uow_factory, engine)
    refused = await fiscal.submit(tx.tenant_id, tx.id)
    assert refused is not None
    assert (refused["status"], refused["error_code"]) == ("failed", FISCAL_REFUSED)
    assert fake.submissions == []
    assert (await updated_events(engine, tx))[-1]["details"]["fiscal"]["status"] == "failed"
    later = FiscalSubmissions(
        uow_factory, engine, lambda: utc_now() + timedelta(minutes=5), api=functools.partial(MerchantApi, policy=FAST)
    )
    await later.sweep()
    assert (await fiscal_of(uow_factory, tx))["status"] == "failed", "a refusal waits for an operator"

    again = await fiscal.resubmit(tx.tenant_id, tx.id, actor="cli:alice")
    assert again["status"] == "submitted" and again["resubmitted_by"] == "cli:alice"
    assert len(fake.submissions) == 1


async def test_a_4xx_is_failed_at_once(
    uow_factory: UowFactory, engine: AsyncEngine, shop: TenantWorld, fake: ClickMerchantFake
) -> None:
    tx = await paid_with_receipt(uow_factory, shop, fake)
    fake.fail_next(1, status=400)
    refused = await submissions(uow_factory, engine).submit(tx.tenant_id, tx.id)
    assert refused is not None and refused["status"] == "failed" and "HTTP 400" in refused["error_note"]
    assert len(fake.calls("POST")) == 1


async def test_an_intent_left_by_a_crash_is_submitted_by_the_sweep(
    uow_factory: UowFactory, engine: AsyncEngine, shop: TenantWorld, fake: ClickMerchantFake
) -> None:
    tx = await paid_with_receipt(uow_factory, shop, fake)  # committed; the call never happened
    fresh = FiscalSubmissions(uow_factory, engine, utc_now, api=functools.partial(MerchantApi, policy=FAST))
    assert tx.id not in {t for _, t in await fresh.due()}, "too fresh: its own call may still be under way"
    later = FiscalSubmissions(
        uow_factory, engine, lambda: utc_now() + timedelta(minutes=1), api=functools.partial(MerchantApi, policy=FAST)
    )
    await later.sweep()
    assert (await fiscal_of(uow_factory, tx))["status"] == "submitted"
    assert [s["payment_id"] for s in fake.submissions] == [tx.details["click_paydoc_id"]]


async def test_replicas_sweeping_at_once_submit_an_abandoned_intent_once(
    uow_factory: UowFactory, engine: AsyncEngine, shop: TenantWorld, fake: ClickMerchantFake
) -> None:
    tx = await paid_with_receipt(uow_factory, shop, fake)
    replicas = [
        FiscalSubmissions(
            uow_factory,
            engine,
            lambda: utc_now() + timedelta(minutes=1),
            api=functools.partial(MerchantApi, policy=FAST),
        )
        for _ in range(3)
    ]
    await asyncio.gather(*(replica.sweep() for replica in replicas))
    assert [s["payment_id"] for s in fake.submissions] == [tx.details["click_paydoc_id"]]
    fiscal = await fiscal_of(uow_factory, tx)
    assert fiscal["status"] == "submitted" and "claimed_at" in fiscal


async def test_an_unavailable_click_leaves_the_intent_for_the_next_round(
    uow_factory: UowFactory, engine: AsyncEngine, shop: TenantWorld, fake: ClickMerchantFake
) -> None:
    tx = await paid_with_receipt(uow_factory, shop, fake)
    fake.fail_next(3, status=502)
    waiting = await submissions(uow_factory, engine).submit(tx.tenant_id, tx.id)
    assert waiting is not None and waiting["status"] == "pending" and waiting["rounds"] == 1
    done = await submissions(uow_factory, engine).submit(tx.tenant_id, tx.id)
    assert done is not None and done["status"] == "submitted" and done["rounds"] == 2


def test_the_config_takes_a_tin_or_pinfl() -> None:
    with pytest.raises(ValueError, match="tin"):
        ClickConfig(service_id=1, merchant_id=1, merchant_user_id=1, secret_key="s", tin="12")
