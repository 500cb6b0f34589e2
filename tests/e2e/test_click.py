"""Click conformance through the running services: SHOP API calls over HTTP, the broker, the processor, PostgreSQL,
and refunds and status checks against a fake Click Merchant API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.broker.rpc import GatewayCall, RpcClient
from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus, TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderRejected, ProviderUnavailable
from shared.gateways.click.adapter import ClickAdapter
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.merchant_api import MerchantApi, RetryPolicy
from shared.gateways.click.shop import REPLY_BY, Operation
from shared.gateways.click.simulate import click_request, new_click_ids
from shared.persistence.tables import transactions, webhook_log
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_vhost, new_vhost
from tests.support.click import PREPARE_VECTOR, SECRET
from tests.support.events import EventLog
from tests.support.fakes.click_merchant import NOT_REVERSIBLE, REVERSED, SUCCESSFUL, ClickMerchantFake
from tests.support.http import create, until
from tests.support.system import System, free_port, service_env
from tests.support.world import TenantWorld, make_tenant

ANSWER_KEYS = {"prepare": "merchant_prepare_id", "complete": "merchant_confirm_id"}
FAST = RetryPolicy(attempts=4, multiplier_s=0.01, max_wait_s=0.05, timeout_s=0.5)


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


@dataclass
class Shop:
    """A merchant with one Click account, and Click's side of the SHOP API towards it."""

    client: httpx.AsyncClient
    world: TenantWorld
    config: dict[str, Any]

    @property
    def account_id(self) -> uuid.UUID:
        return self.world.accounts["click"]

    async def order(self, amount: int = 1_500_000, currency: str = "UZS", **details: Any) -> dict[str, Any]:
        return await create(self.client, self.world, gateway="click", amount=amount, currency=currency, details=details)

    def form(self, operation: Operation, reference: str, ids: tuple[int, int], **extra: Any) -> dict[str, str]:
        extra.setdefault("amount", "15000.00")
        return click_request(
            self.config["secret_key"],
            operation,
            service_id=self.config["service_id"],
            merchant_trans_id=reference,
            click_trans_id=ids[0],
            click_paydoc_id=ids[1],
            **extra,
        )

    async def post(self, operation: Operation | str, fields: dict[str, str]) -> dict[str, Any]:
        name = operation.value if isinstance(operation, Operation) else operation
        response = await self.client.post(f"/webhooks/click/{self.account_id}/{name}", data=fields)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        body: dict[str, Any] = response.json()
        return body

    async def prepare(self, reference: str, ids: tuple[int, int], **extra: Any) -> dict[str, Any]:
        return await self.post(Operation.PREPARE, self.form(Operation.PREPARE, reference, ids, **extra))

    async def complete(self, reference: str, ids: tuple[int, int], prepare_id: Any, **extra: Any) -> dict[str, Any]:
        fields = self.form(Operation.COMPLETE, reference, ids, merchant_prepare_id=prepare_id, **extra)
        return await self.post(Operation.COMPLETE, fields)

    async def paid(self, **details: Any) -> tuple[dict[str, Any], tuple[int, int]]:
        """A completed Click payment, and the Click ids it was paid with."""
        tx = await self.order(**details)
        reference = details.get("merchant_trans_id", tx["id"])
        ids = new_click_ids()
        prepared = await self.prepare(reference, ids)
        done = await self.complete(reference, ids, prepared["merchant_prepare_id"])
        assert done["error"] == 0, done
        return await until(self.client, self.world, tx["id"], "completed"), ids

    async def tx(self, transaction_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/transactions/{transaction_id}", headers=self.world.auth)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def audit(self, transaction_id: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"/v1/transactions/{transaction_id}/audit", headers=self.world.auth)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def refund(self, transaction_id: str, body: dict[str, Any]) -> httpx.Response:
        headers = {**self.world.auth, "Idempotency-Key": str(uuid.uuid4())}
        return await self.client.post(f"/v1/transactions/{transaction_id}/refunds", json=body, headers=headers)

    async def settled_refunds(self, transaction_id: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = await self.client.get(f"/v1/transactions/{transaction_id}/refunds", headers=self.world.auth)
            items: list[dict[str, Any]] = response.json()["items"]
            if items and all(item["status"] != "requested" for item in items):
                return items
            await asyncio.sleep(0.1)
        raise AssertionError(f"the refunds of {transaction_id} never settled")


def click_config(fake: ClickMerchantFake) -> dict[str, Any]:
    return {
        "service_id": fake.service_id,
        "merchant_id": 5000 + secrets.randbelow(1000),
        "merchant_user_id": fake.merchant_user_id,
        "secret_key": fake.secret_key,
        "api_base": fake.url,
    }


@pytest.fixture
async def shop(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, fake: ClickMerchantFake
) -> AsyncIterator[Shop]:
    config = click_config(fake)
    world = await make_tenant(engine, cipher, configs={"click": config, "cash": {}})
    yield Shop(client, world, config)


async def logged_outcomes(engine: AsyncEngine, account_id: uuid.UUID, click_trans_id: int) -> list[str]:
    """What the processor recorded of Click's calls (only calls that reached it are there)."""
    query = (
        select(webhook_log.c.outcome)
        .where(
            webhook_log.c.account_id == account_id,
            webhook_log.c.payload["click_trans_id"].astext == str(click_trans_id),
        )
        .order_by(webhook_log.c.id)
    )
    async with engine.connect() as conn:
        return [str(row.outcome) for row in await conn.execute(query)]


# --- the SHOP API -------------------------------------------------------------------------------------------------


async def test_happy_path_pays_the_order_with_sequence_ids(shop: Shop, engine: AsyncEngine, events: EventLog) -> None:
    reference = f"order-{uuid.uuid4().hex[:10]}"
    tx = await shop.order(merchant_trans_id=reference, return_url="https://shop.example.uz/done")
    assert tx["payment_url"] == (
        f"https://my.click.uz/services/pay?service_id={shop.config['service_id']}"
        f"&merchant_id={shop.config['merchant_id']}&amount=15000.00&transaction_param={reference}"
        "&return_url=https%3A%2F%2Fshop.example.uz%2Fdone"
    )
    ids = new_click_ids()

    prepared = await shop.prepare(reference, ids)
    again = await shop.prepare(reference, ids)
    done = await shop.complete(reference, ids, prepared["merchant_prepare_id"])

    assert prepared == {
        "click_trans_id": ids[0],
        "merchant_trans_id": reference,
        "merchant_prepare_id": prepared["merchant_prepare_id"],
        "error": 0,
        "error_note": "Success",
    }
    assert again == prepared, "a repeated Prepare gets the same merchant_prepare_id"
    assert set(done) == {"click_trans_id", "merchant_trans_id", "merchant_confirm_id", "error", "error_note"}
    assert done["error"] == 0 and done["click_trans_id"] == ids[0]
    prepare_id, confirm_id = prepared["merchant_prepare_id"], done["merchant_confirm_id"]
    assert isinstance(prepare_id, int) and prepare_id >= 1000, "ids come from click_merchant_ids (START 1000)"
    assert isinstance(confirm_id, int) and confirm_id > prepare_id
    async with engine.connect() as conn:
        last = (await conn.execute(text("SELECT last_value FROM click_merchant_ids"))).scalar_one()
    assert last >= confirm_id

    paid = await shop.tx(tx["id"])
    assert paid["status"] == "completed"
    assert {
        "merchant_trans_id": reference,
        "click_trans_id": ids[0],
        "click_paydoc_id": ids[1],
        "merchant_prepare_id": prepare_id,
        "merchant_confirm_id": confirm_id,
        "service_id": shop.config["service_id"],
    }.items() <= paid["details"].items()
    await events.wait_for(tx["id"], "transaction.completed")
    assert [r.routing_key for r in events.of(tx["id"])] == [
        "transaction.created",
        "transaction.updated",
        "transaction.completed",
    ]
    assert await logged_outcomes(engine, shop.account_id, ids[0]) == ["0", "0", "0"]


async def test_the_gateways_md_vector_is_accepted_as_sent(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    """gateways.md's Prepare, byte for byte (its sign included), then its Complete signed with the real prepare id."""
    config = {"service_id": 12345, "merchant_id": 1, "merchant_user_id": 777, "secret_key": SECRET}
    vector = Shop(client, await make_tenant(engine, cipher, configs={"click": config}), config)
    tx = await vector.order(merchant_trans_id="order-1001")
    prepare = dict(PREPARE_VECTOR)

    prepared = await vector.post(Operation.PREPARE, prepare)
    prepare_id = prepared["merchant_prepare_id"]
    complete = vector.form(
        Operation.COMPLETE,
        "order-1001",
        (2854321987, 3987654321),
        merchant_prepare_id=prepare_id,
        sign_time="2025-05-28 12:00:05",
    )
    done = await vector.post(Operation.COMPLETE, complete)

    assert prepared["error"] == 0 and prepared["click_trans_id"] == 2854321987
    assert done["error"] == 0 and isinstance(done["merchant_confirm_id"], int)
    assert (await vector.tx(tx["id"]))["status"] == "completed"


async def test_each_order_gets_its_own_prepare_id(shop: Shop) -> None:
    first, second = await shop.order(), await shop.order()

    a = await shop.prepare(first["id"], new_click_ids())
    b = await shop.prepare(second["id"], new_click_ids())

    assert a["error"] == b["error"] == 0
    assert b["merchant_prepare_id"] > a["merchant_prepare_id"]


async def test_an_order_without_a_reference_is_known_by_its_transaction_id(shop: Shop) -> None:
    plain = await shop.order()
    referenced = await shop.order(merchant_trans_id=f"ref-{uuid.uuid4().hex[:8]}")
    assert plain["payment_url"].endswith(f"&transaction_param={plain['id']}")

    by_id = await shop.prepare(plain["id"], new_click_ids())
    by_id_upper = await shop.prepare(plain["id"].upper(), new_click_ids())
    other_by_id = await shop.prepare(referenced["id"], new_click_ids())
    other_by_reference = await shop.prepare(referenced["details"]["merchant_trans_id"], new_click_ids())

    assert by_id["error"] == 0
    assert by_id_upper["error"] == -5, "only the exact id the pay link carries"
    assert other_by_id["error"] == -5, "an order with its own reference is known by that alone"
    assert other_by_reference["error"] == 0


async def test_the_ingress_checks_come_first_missing_fields_then_sign_then_action(shop: Shop) -> None:
    tx = await shop.order()
    ids = new_click_ids()
    unknown = f"no-such-{uuid.uuid4().hex[:8]}"

    missing_and_forged = shop.form(Operation.PREPARE, tx["id"], ids)
    del missing_and_forged["click_paydoc_id"]
    missing_and_forged["sign_string"] = "0" * 32
    forged_with_bad_action = shop.form(Operation.PREPARE, tx["id"], ids, action="7")
    forged_with_bad_action["sign_string"] = "0" * 32
    other_service = shop.form(Operation.PREPARE, tx["id"], ids)
    other_service["service_id"] = str(shop.config["service_id"] + 1)

    assert (await shop.post(Operation.PREPARE, missing_and_forged))["error"] == -8
    assert (await shop.post(Operation.PREPARE, other_service))["error"] == -1, "the sign before the service_id"
    assert (await shop.post(Operation.PREPARE, forged_with_bad_action))["error"] == -1
    assert (await shop.prepare(unknown, ids, action="7"))["error"] == -3, "-3 before the order is looked up"
    assert (await shop.prepare(tx["id"], ids, action="1"))["error"] == -3, "a Complete action on /prepare"
    on_complete = shop.form(Operation.COMPLETE, tx["id"], ids, merchant_prepare_id=1, action="0")
    assert (await shop.post(Operation.COMPLETE, on_complete))["error"] == -3, "a Prepare action on /complete"
    prepare_signed = shop.form(Operation.PREPARE, tx["id"], ids) | {"merchant_prepare_id": "1"}
    assert (await shop.post(Operation.COMPLETE, prepare_signed))["error"] == -1, "each endpoint checks its formula"

    after = await shop.tx(tx["id"])
    assert after["status"] == "pending" and "click_trans_id" not in after["details"], "no refused call changed it"


async def test_the_processor_checks_follow_in_order(shop: Shop, engine: AsyncEngine) -> None:
    reference = f"order-{uuid.uuid4().hex[:10]}"
    tx = await shop.order(merchant_trans_id=reference)
    ids = new_click_ids()

    assert (await shop.prepare(f"{reference}-x", ids, amount="1.00"))["error"] == -5, "-5 before -2"
    assert (await shop.complete(reference, ids, 999_999_999))["error"] == -6, "never prepared"
    assert (await shop.prepare(reference, ids, amount="15000.01"))["error"] == -2
    assert "click_trans_id" not in (await shop.tx(tx["id"]))["details"], "a refused Prepare records nothing"
    prepare_id = (await shop.prepare(reference, ids))["merchant_prepare_id"]
    assert (await shop.complete(reference, ids, prepare_id + 1, amount="1.00"))["error"] == -6, "-6 before -2"
    assert (await shop.complete(reference, ids, prepare_id, amount="14999.99"))["error"] == -2
    assert (await shop.tx(tx["id"]))["status"] == "pending"
    assert (await shop.complete(reference, ids, prepare_id))["error"] == 0
    assert (await shop.complete(reference, ids, prepare_id, amount="1.00"))["error"] == -4, "-4 before -2"
    assert (await shop.complete(reference, ids, prepare_id + 1))["error"] == -6, "-6 before -4"
    assert (await shop.prepare(reference, new_click_ids()))["error"] == -4

    failed_reference = f"order-{uuid.uuid4().hex[:10]}"
    failed = await shop.order(merchant_trans_id=failed_reference)
    failed_ids = new_click_ids()
    failed_prepare = (await shop.prepare(failed_reference, failed_ids))["merchant_prepare_id"]
    assert (await shop.complete(failed_reference, failed_ids, failed_prepare, error=-5017))["error"] == -9
    assert (await shop.complete(failed_reference, failed_ids, failed_prepare, amount="2.00"))["error"] == -2, "-2, -9"
    assert (await shop.complete(failed_reference, failed_ids, failed_prepare))["error"] == -9
    assert (await shop.prepare(failed_reference, new_click_ids()))["error"] == -9
    assert (await shop.tx(failed["id"]))["status"] == "failed"
    assert await logged_outcomes(engine, shop.account_id, failed_ids[0]) == ["0", "-9", "-2", "-9"]


async def test_the_amount_is_signed_as_received_and_compared_in_tiyin(shop: Shop) -> None:
    whole = await shop.order()
    odd = await shop.order(amount=1_500_050)

    assert (await shop.prepare(whole["id"], new_click_ids(), amount="15000"))["error"] == 0
    assert (await shop.prepare(odd["id"], new_click_ids(), amount="15000.5"))["error"] == 0
    assert (await shop.prepare(odd["id"], new_click_ids(), amount="15000.501"))["error"] == -2, "below one tiyin"
    assert (await shop.prepare(odd["id"], new_click_ids(), amount="15000.05"))["error"] == -2


async def test_json_bodies_are_accepted_with_numbers_hashed_as_sent(shop: Shop) -> None:
    tx = await shop.order()
    ids = new_click_ids()
    fields = shop.form(Operation.PREPARE, tx["id"], ids)
    raw = (
        f'{{"click_trans_id": {ids[0]}, "service_id": {fields["service_id"]}, "click_paydoc_id": {ids[1]}, '
        f'"merchant_trans_id": "{tx["id"]}", "amount": 15000.00, "action": 0, "error": 0, "error_note": "Success", '
        f'"sign_time": "{fields["sign_time"]}", "sign_string": "{fields["sign_string"]}"}}'
    )

    response = await shop.client.post(
        f"/webhooks/click/{shop.account_id}/prepare", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200
    assert response.json()["error"] == 0 and response.json()["click_trans_id"] == ids[0]


async def test_unknown_accounts_answer_as_a_wrong_sign_and_unreadable_bodies_are_request_errors(shop: Shop) -> None:
    tx = await shop.order()
    fields = shop.form(Operation.PREPARE, tx["id"], new_click_ids())
    cash_account = shop.world.accounts["cash"]

    for account in (uuid.uuid4(), "not-a-uuid", cash_account):
        response = await shop.client.post(f"/webhooks/click/{account}/prepare", data=fields)
        assert response.status_code == 200
        assert response.json() == {
            "click_trans_id": int(fields["click_trans_id"]),
            "merchant_trans_id": tx["id"],
            "merchant_prepare_id": None,
            "error": -1,
            "error_note": "SIGN CHECK FAILED!",
        }
    for body, content_type in (
        (b"{broken", "application/json"),
        (b"amount=1&amount=2", "application/x-www-form-urlencoded"),
        (b"x" * 70_000, "application/x-www-form-urlencoded"),
    ):
        response = await shop.client.post(
            f"/webhooks/click/{shop.account_id}/complete", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 200 and response.json()["error"] == -8, response.text
        assert "merchant_confirm_id" in response.json()
    assert (await shop.tx(tx["id"]))["details"] == {}


async def test_a_repeated_complete_answers_already_paid_and_changes_nothing(
    shop: Shop, engine: AsyncEngine, events: EventLog
) -> None:
    reference = f"order-{uuid.uuid4().hex[:10]}"
    tx, ids = await shop.paid(merchant_trans_id=reference)
    await events.wait_for(tx["id"], "transaction.completed")
    before, audit = await shop.tx(tx["id"]), await shop.audit(tx["id"])
    seen = [r.message_id for r in events.of(tx["id"])]

    repeats = [await shop.complete(reference, ids, tx["details"]["merchant_prepare_id"]) for _ in range(2)]
    await asyncio.sleep(1.0)

    assert [r["error"] for r in repeats] == [-4, -4]
    assert all(r["merchant_confirm_id"] is None for r in repeats)
    assert await shop.tx(tx["id"]) == before
    assert await shop.audit(tx["id"]) == audit
    assert [e["action"] for e in audit] == ["create", "update", "complete"]
    assert [r.message_id for r in events.of(tx["id"])] == seen
    assert await logged_outcomes(engine, shop.account_id, ids[0]) == ["0", "0", "-4", "-4"]


async def test_concurrent_completes_pay_once(shop: Shop, events: EventLog) -> None:
    reference = f"order-{uuid.uuid4().hex[:10]}"
    tx = await shop.order(merchant_trans_id=reference)
    ids = new_click_ids()
    prepare_id = (await shop.prepare(reference, ids))["merchant_prepare_id"]

    answers = await asyncio.gather(*(shop.complete(reference, ids, prepare_id) for _ in range(6)))

    assert sorted(a["error"] for a in answers) == [-4, -4, -4, -4, -4, 0]
    await events.wait_for(tx["id"], "transaction.completed")
    await asyncio.sleep(0.5)
    assert len(events.of(tx["id"], "transaction.completed")) == 1


async def test_a_failed_debit_fails_the_order_and_answers_cancelled(shop: Shop, events: EventLog) -> None:
    tx = await shop.order()
    ids = new_click_ids()
    prepare_id = (await shop.prepare(tx["id"], ids))["merchant_prepare_id"]

    failed = await shop.complete(tx["id"], ids, prepare_id, error=-5017, error_note="Insufficient funds")
    late = await shop.complete(tx["id"], ids, prepare_id)

    assert failed["error"] == -9 and failed["merchant_confirm_id"] is None
    assert late["error"] == -9
    after = await shop.tx(tx["id"])
    assert after["status"] == "failed"
    assert after["details"]["error_code"] == -5017 and after["details"]["error_note"] == "Insufficient funds"
    await events.wait_for(tx["id"], "transaction.failed")
    assert not events.of(tx["id"], "transaction.completed")


async def test_a_new_attempt_replaces_the_last_one(shop: Shop) -> None:
    tx = await shop.order()
    first, second = new_click_ids(), new_click_ids()
    first_id = (await shop.prepare(tx["id"], first))["merchant_prepare_id"]
    second_id = (await shop.prepare(tx["id"], second))["merchant_prepare_id"]

    stale = await shop.complete(tx["id"], first, first_id)
    current = await shop.complete(tx["id"], second, second_id)

    assert second_id != first_id
    assert stale["error"] == -6, "the replaced attempt's Complete finds no prepare id"
    assert current["error"] == 0
    assert (await shop.tx(tx["id"]))["details"]["click_trans_id"] == second[0]


async def test_one_click_attempt_cannot_prepare_two_orders(shop: Shop) -> None:
    first, second = await shop.order(), await shop.order()
    ids = new_click_ids()

    assert (await shop.prepare(first["id"], ids))["error"] == 0
    taken = await shop.prepare(second["id"], ids)

    assert taken["error"] == -8 and "another order" in taken["error_note"]
    assert "click_trans_id" not in (await shop.tx(second["id"]))["details"]


async def test_a_call_no_processor_answers_gets_the_retryable_error(
    shop: Shop, settings: Settings, servers: Servers
) -> None:
    vhost_url = new_vhost(servers)
    if vhost_url.endswith("/"):
        pytest.skip("rabbitmqctl is needed to give this ingress a broker without a processor")
    port = free_port()
    env = {**service_env(settings.model_copy(update={"amqp_url": vhost_url}), port), "BILLING_RPC_TIMEOUT_S": "1"}
    alone = System(env=env, port=port)
    tx = await shop.order()
    try:
        alone.start("ingress")
        await asyncio.to_thread(alone.wait_ready)
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=alone.base_url, timeout=20) as http:
            response = await http.post(
                f"/webhooks/click/{shop.account_id}/prepare",
                data=shop.form(Operation.PREPARE, tx["id"], new_click_ids()),
            )
        waited = time.monotonic() - started
    finally:
        alone.stop_all()
        drop_vhost(vhost_url)

    assert response.status_code == 200
    assert response.json()["error"] == -7 and response.json()["merchant_prepare_id"] is None
    assert 0.9 <= waited < 5, f"answered after {waited:.1f}s; the timeout is 1s"
    after = await shop.tx(tx["id"])
    assert after["status"] == "pending" and "click_trans_id" not in after["details"]


async def test_a_change_the_ingress_no_longer_waits_for_is_rolled_back(
    shop: Shop, settings: Settings, engine: AsyncEngine
) -> None:
    """The processor reaches a call after the ingress gave Click -7: it must not pay behind Click's back."""
    tx = await shop.order()
    ids = new_click_ids()
    fields = shop.form(Operation.PREPARE, tx["id"], ids)
    connection = await aio_pika.connect_robust(settings.amqp_url)
    rpc = RpcClient()
    try:
        await rpc.start(connection)

        def call(reply_by: float) -> GatewayCall:
            params: dict[str, Any] = {**fields, REPLY_BY: reply_by}
            return GatewayCall(
                gateway="click",
                tenant_id=shop.world.tenant_id,
                account_id=shop.account_id,
                operation="prepare",
                params=params,
            )

        late = await rpc.call(call(time.time() - 1), 5)
        untouched = await shop.tx(tx["id"])
        logged_late = await logged_outcomes(engine, shop.account_id, ids[0])
        in_time = await rpc.call(call(time.time() + 5), 5)
    finally:
        await connection.close()

    assert late.ok and late.body["error"] == -7
    assert "click_trans_id" not in untouched["details"] and logged_late == [], "rolled back, log row and all"
    assert in_time.ok and in_time.body["error"] == 0
    assert (await shop.tx(tx["id"]))["details"]["merchant_prepare_id"] == in_time.body["merchant_prepare_id"]


# --- refunds: a full reversal through the Merchant API ------------------------------------------------------------


async def test_a_full_refund_reverses_the_payment(shop: Shop, fake: ClickMerchantFake, events: EventLog) -> None:
    tx, ids = await shop.paid()
    fake.add_payment(ids[1])

    response = await shop.refund(tx["id"], {"reason": "returned goods"})

    assert response.status_code == 202, response.text
    [refund] = await shop.settled_refunds(tx["id"])
    assert refund["status"] == "succeeded" and refund["amount"] == 1_500_000
    after = await until(shop.client, shop.world, tx["id"], "refunded")
    assert after["refunded_amount"] == 1_500_000
    assert fake.reversals == [ids[1]]
    [call] = fake.calls("DELETE")
    assert call.path == f"/v2/merchant/payment/reversal/{shop.config['service_id']}/{ids[1]}"
    assert call.authorized and call.auth is not None and call.auth.startswith(f"{fake.merchant_user_id}:")
    await events.wait_for(tx["id"], "transaction.refunded")
    assert events.of(tx["id"], "refund.succeeded")


async def test_a_partial_refund_is_refused_and_nothing_is_sent(shop: Shop, fake: ClickMerchantFake) -> None:
    tx, ids = await shop.paid()
    fake.add_payment(ids[1])

    response = await shop.refund(tx["id"], {"amount": 500_000})

    assert response.status_code == 422
    assert response.json()["code"] == "refund_not_supported"
    await asyncio.sleep(0.5)
    assert fake.calls() == []
    assert (await shop.tx(tx["id"]))["status"] == "completed"


async def test_a_reversal_is_retried_through_two_503s(shop: Shop, fake: ClickMerchantFake) -> None:
    tx, ids = await shop.paid()
    fake.add_payment(ids[1])
    fake.fail_next(2, status=503)

    assert (await shop.refund(tx["id"], {})).status_code == 202

    [refund] = await shop.settled_refunds(tx["id"])
    assert refund["status"] == "succeeded"
    assert len(fake.calls("DELETE")) == 3
    assert fake.reversals == [ids[1]], "one reversal, however many attempts"
    assert (await shop.tx(tx["id"]))["status"] == "refunded"


async def test_a_reversal_whose_answer_was_lost_is_not_refused_on_retry(shop: Shop, fake: ClickMerchantFake) -> None:
    tx, ids = await shop.paid()
    fake.add_payment(ids[1])
    fake.fail_next(1, status=503, apply=True)  # Click reverses it, but the answer never arrives

    assert (await shop.refund(tx["id"], {})).status_code == 202

    [refund] = await shop.settled_refunds(tx["id"])
    assert refund["status"] == "succeeded"
    assert fake.reversals == [ids[1]]
    assert len(fake.calls("DELETE")) == 2 and len(fake.calls("GET")) == 1
    assert fake.payment_status(ids[1]) == REVERSED


async def test_a_reversal_click_refuses_fails_the_refund(shop: Shop, fake: ClickMerchantFake) -> None:
    tx, ids = await shop.paid()
    fake.add_payment(ids[1], reversible=False)  # e.g. paid in an earlier reporting month

    assert (await shop.refund(tx["id"], {})).status_code == 202

    [refund] = await shop.settled_refunds(tx["id"])
    assert refund["status"] == "failed"
    # Click's code only: its own words ("Payment cannot be reversed") go to the operators' log, not to the tenant.
    assert refund["error"] == f"Click refused the reversal: error {NOT_REVERSIBLE}"
    assert len(fake.calls("DELETE")) == 1, "a business refusal is not retried"
    after = await shop.tx(tx["id"])
    assert after["status"] == "completed" and after["refunded_amount"] == 0


# --- the Merchant API client, in-process against the fake --------------------------------------------------------


def _account(fake: ClickMerchantFake, **change: Any) -> GatewayAccount:
    config = ClickConfig.model_validate({**click_config(fake), "merchant_id": 1, **change}).model_dump()
    return GatewayAccount(id=uuid.uuid4(), tenant_id=uuid.uuid4(), gateway="click", config=config)


def _prepared_order(account: GatewayAccount, paydoc: int | None) -> Transaction:
    """An order of `account` as the adapter sees it: with Click's ids once prepared (`paydoc`), else without."""
    details = {} if paydoc is None else {"click_paydoc_id": paydoc, "click_trans_id": paydoc - 1}
    return Transaction.open(
        id=uuid.uuid4(),
        tenant_id=account.tenant_id,
        account_id=account.id,
        gateway="click",
        money=Money.of(1_500_000, "UZS"),
        details=details,
        metadata={},
        at=datetime.now(UTC),
    )


def _adapter() -> ClickAdapter:
    return ClickAdapter(api=lambda config: MerchantApi(config, policy=FAST))


async def test_status_translates_clicks_payment_status(fake: ClickMerchantFake) -> None:
    account, adapter = _account(fake), _adapter()
    for paydoc, status in ((101, 0), (102, 1), (103, SUCCESSFUL), (104, REVERSED)):
        fake.add_payment(paydoc, status)

    reported = {
        paydoc: (await adapter.status(account, _prepared_order(account, paydoc))).status
        for paydoc in (101, 102, 103, 104, 105)
    }
    never_prepared = await adapter.status(account, _prepared_order(account, None))

    assert reported == {
        101: None,
        102: None,
        103: TransactionStatus.COMPLETED,
        104: TransactionStatus.FAILED,
        105: None,  # Click does not know the payment: nothing to learn
    }
    assert never_prepared.status is None
    assert len(fake.calls("GET")) == 5, "no call about a payment that was never prepared"
    assert all(call.authorized for call in fake.calls())


async def test_4xx_is_not_retried_and_is_a_refusal(fake: ClickMerchantFake) -> None:
    account = _account(fake, secret_key="not-the-key")

    with pytest.raises(ProviderRejected, match="HTTP 401"):
        await _adapter().status(account, _prepared_order(account, 201))

    assert len(fake.calls()) == 1 and not fake.calls()[0].authorized


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_5xx_and_429_are_retried_then_unavailable(fake: ClickMerchantFake, status: int) -> None:
    account = _account(fake)
    fake.add_payment(301)
    fake.fail_next(10, status=status)

    with pytest.raises(ProviderUnavailable, match=f"HTTP {status}"):
        await _adapter().status(account, _prepared_order(account, 301))

    assert len(fake.calls()) == FAST.attempts


async def test_a_timeout_is_retried(fake: ClickMerchantFake) -> None:
    account = _account(fake)
    fake.add_payment(401)
    fake.stall_next(1, seconds=FAST.timeout_s * 3)

    reported = await _adapter().status(account, _prepared_order(account, 401))

    assert reported.status is TransactionStatus.COMPLETED
    assert len(fake.calls()) == 2


async def test_a_partial_refund_never_reaches_click(fake: ClickMerchantFake) -> None:
    account = _account(fake)
    tx = _prepared_order(account, 501)
    now = tx.created_at
    part = Refund(uuid.uuid4(), account.tenant_id, tx.id, 1_000, RefundStatus.REQUESTED, None, None, now, now)

    with pytest.raises(ProviderRejected, match="only the whole amount"):
        await _adapter().refund(account, tx, part)

    assert fake.calls() == []


# --- the janitor and the simulator --------------------------------------------------------------------------------


async def test_the_janitor_completes_a_payment_whose_complete_was_lost(shop: Shop, fake: ClickMerchantFake) -> None:
    """Click says the payment succeeded; our Complete never came. The janitor asks after 30 s, then Click's late
    Complete is its first one (0), and only a repeat gets -4."""
    tx = await shop.order()
    ids = new_click_ids()
    prepare_id = (await shop.prepare(tx["id"], ids))["merchant_prepare_id"]
    fake.add_payment(ids[1], SUCCESSFUL)

    healed = await until(shop.client, shop.world, tx["id"], "completed", timeout=60)

    assert healed["details"]["payment_status"] == SUCCESSFUL
    assert any(call.path.endswith(f"/payment/status/{shop.config['service_id']}/{ids[1]}") for call in fake.calls())
    late = await shop.complete(tx["id"], ids, prepare_id)
    repeat = await shop.complete(tx["id"], ids, prepare_id)
    assert late["error"] == 0 and isinstance(late["merchant_confirm_id"], int)
    assert repeat["error"] == -4
    assert (await shop.tx(tx["id"]))["details"]["merchant_confirm_id"] == late["merchant_confirm_id"]


async def test_the_simulate_command_passes_against_the_running_service(
    system: System, shop: Shop, engine: AsyncEngine
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli.main",
        "simulate",
        "click",
        str(shop.account_id),
        "--base-url",
        system.base_url,
        env=system.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)

    report = out.decode()
    assert process.returncode == 0, report + err.decode()
    summary = re.search(r"^(\d+)/(\d+) checks pass$", report, re.MULTILINE)
    assert summary is not None and summary[1] == summary[2] and int(summary[2]) >= 12, report
    async with engine.connect() as conn:
        query = (
            select(transactions.c.status, func.count())
            .where(transactions.c.account_id == shop.account_id)
            .group_by(transactions.c.status)
        )
        statuses: dict[str, int] = {status: count for status, count in await conn.execute(query)}
    # The run's orders are in the service, under this account: one paid, one failed debit, one left pending.
    assert statuses == {"completed": 1, "failed": 1, "pending": 1}, statuses
