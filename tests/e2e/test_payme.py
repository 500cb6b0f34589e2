"""Payme Merchant API conformance: gateways.md's vectors and rules, through the real ingress, broker and processor."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import uuid
from typing import Any

import aio_pika
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.broker.rpc import GatewayCall, RpcClient
from shared.gateways.payme import ADAPTER
from shared.gateways.payme.protocol import basic_header
from shared.gateways.payme.records import TIMEOUT_MS
from shared.gateways.payme.webhook import answer_of
from shared.persistence.admin import GatewayAccounts
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_vhost, new_vhost
from tests.support.events import EventLog
from tests.support.http import create, until
from tests.support.payme import (
    JSON_UTF8,
    KEY,
    MERCHANT,
    Payme,
    error_of,
    now_ms,
    payme_id,
    payme_tenant,
)
from tests.support.system import System, free_port, service_env
from tests.support.world import TenantWorld

VECTOR_HEADER = "Basic UGF5Y29tOmZrV1c2VU5yenZ6eVY2RGhyZEhKNmFFaHIzZFJjdkpZa2FHeA=="
VECTOR_LINK = (
    "https://checkout.paycom.uz/bT01ODdmNzJjNzJjYWMwZDE2MmM3MjJhZTI7YWMub3JkZXJfaWQ9MTAwMTthPTE1MDAwMDA7"
    "Yz1odHRwczovL3Nob3AuZXhhbXBsZS51ei9yZXR1cm4="
)
VECTOR_ID = "5305e3bab097f420a62ced0b"


async def order(
    client: httpx.AsyncClient, world: TenantWorld, value: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A pending Payme order, created through the API like a shop would."""
    details = {"account": {"order_id": value}} if value else {}
    return await create(client, world, gateway="payme", amount=extra.pop("amount", 1_500_000), details=details, **extra)


async def created(payme: Payme, value: str, amount: int = 1_500_000, **params: Any) -> tuple[str, dict[str, Any]]:
    ours = params.pop("id", payme_id())
    body = {"id": ours, "time": params.pop("time", now_ms()), "amount": amount, "account": {"order_id": value}}
    return ours, await payme.result("CreateTransaction", body)


async def show(client: httpx.AsyncClient, world: TenantWorld, transaction_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/transactions/{transaction_id}", headers=world.auth)
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


async def test_the_happy_path_vector_for_order_1001(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await create(
        client,
        world,
        gateway="payme",
        amount=1_500_000,
        details={"account": {"order_id": "1001"}, "return_url": "https://shop.example.uz/return"},
    )
    assert tx["payment_url"] == VECTOR_LINK
    payme = Payme(client, world.accounts["payme"])
    raw = await client.post(
        payme.path,
        json={
            "jsonrpc": "2.0",
            "id": 77,
            "method": "CheckPerformTransaction",
            "params": {"amount": 1_500_000, "account": {"order_id": "1001"}},
        },
        headers={"Authorization": VECTOR_HEADER},
    )
    assert raw.status_code == 200 and raw.headers["content-type"] == JSON_UTF8
    assert raw.json() == {"jsonrpc": "2.0", "id": 77, "result": {"allow": True}}

    create_params = {"id": VECTOR_ID, "time": now_ms(), "amount": 1_500_000, "account": {"order_id": "1001"}}
    first = await payme.result("CreateTransaction", create_params)
    assert first["state"] == 1 and first["transaction"] == tx["id"] and first["receivers"] is None
    assert first["create_time"] > 0
    assert await payme.result("CreateTransaction", create_params) == first
    performed = await payme.result("PerformTransaction", {"id": VECTOR_ID})
    assert performed["state"] == 2 and performed["transaction"] == tx["id"] and performed["perform_time"] > 0
    await asyncio.sleep(0.01)
    assert await payme.result("PerformTransaction", {"id": VECTOR_ID}) == performed, "perform_time is stored once"
    status = await payme.result("CheckTransaction", {"id": VECTOR_ID})
    assert status == {
        "create_time": first["create_time"],
        "perform_time": performed["perform_time"],
        "cancel_time": 0,
        "transaction": tx["id"],
        "state": 2,
        "reason": None,
    }
    canceled = await payme.result("CancelTransaction", {"id": VECTOR_ID, "reason": 5})
    assert canceled["state"] == -2 and canceled["cancel_time"] >= performed["perform_time"]
    assert await payme.result("CancelTransaction", {"id": VECTOR_ID, "reason": 5}) == canceled
    status = await payme.result("CheckTransaction", {"id": VECTOR_ID})
    assert status["state"] == -2 and status["reason"] == 5 and status["cancel_time"] == canceled["cancel_time"]
    late = await payme.error("PerformTransaction", {"id": VECTOR_ID})
    assert late["code"] == -31008

    shown = await show(client, world, tx["id"])
    assert shown["status"] == "refunded" and shown["refunded_amount"] == 1_500_000
    assert shown["details"]["payme_id"] == VECTOR_ID and shown["details"]["state"] == -2
    await events.wait_for(tx["id"], "transaction.refunded")


async def test_a_cancel_after_perform_is_a_full_refund_with_its_record_and_events(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world, "r-1", amount=420_000)
    payme = Payme(client, world.accounts["payme"])
    ours, _ = await created(payme, "r-1", 420_000)
    await payme.result("PerformTransaction", {"id": ours})
    await payme.result("CancelTransaction", {"id": ours, "reason": 5})

    refunded = await until(client, world, tx["id"], "refunded")
    assert refunded["refunded_amount"] == 420_000
    refunds = (await client.get(f"/v1/transactions/{tx['id']}/refunds", headers=world.auth)).json()["items"]
    assert len(refunds) == 1 and refunds[0]["status"] == "succeeded" and refunds[0]["amount"] == 420_000
    assert "5" in refunds[0]["reason"]
    await events.wait_for(tx["id"], "transaction.refunded")
    kinds = [r.routing_key for r in events.of(tx["id"])]
    for kind in ("transaction.created", "transaction.completed", "refund.requested", "refund.succeeded"):
        assert kinds.count(kind) == 1, kinds
    succeeded = events.of(tx["id"], "refund.succeeded")[0].body["data"]["refund"]
    assert succeeded["amount"] == 420_000 and succeeded["id"] == refunds[0]["id"]
    audit = (await client.get(f"/v1/transactions/{tx['id']}/audit", headers=world.auth)).json()["items"]
    assert {e["actor"] for e in audit[1:]} == {f"gateway:payme:{world.accounts['payme']}"}
    assert [e["action"] for e in audit if e["action"].startswith("refund")] == [
        "refund.request",
        "refund.succeed",
        "refund.apply",
    ]


async def test_an_account_may_forbid_cancel_after_perform(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher, allow_cancel_after_perform=False)
    tx = await order(client, world, "kept")
    payme = Payme(client, world.accounts["payme"])
    ours, _ = await created(payme, "kept")
    await payme.result("PerformTransaction", {"id": ours})
    refused = await payme.error("CancelTransaction", {"id": ours, "reason": 5})
    assert refused["code"] == -31007
    assert (await payme.result("CheckTransaction", {"id": ours}))["state"] == 2
    assert (await show(client, world, tx["id"]))["status"] == "completed"


async def test_a_cancel_before_perform_cancels_the_order(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world, "c-1")
    payme = Payme(client, world.accounts["payme"])
    ours, _ = await created(payme, "c-1")
    canceled = await payme.result("CancelTransaction", {"id": ours, "reason": 3})
    assert canceled["state"] == -1 and canceled["cancel_time"] > 0 and canceled["transaction"] == tx["id"]
    assert await payme.result("CancelTransaction", {"id": ours, "reason": 3}) == canceled
    assert (await payme.error("PerformTransaction", {"id": ours}))["code"] == -31008
    assert (
        await payme.error(
            "CreateTransaction", {"id": ours, "time": now_ms(), "amount": 1_500_000, "account": {"order_id": "c-1"}}
        )
    )["code"] == -31008
    closed = await payme.error("CheckPerformTransaction", {"amount": 1_500_000, "account": {"order_id": "c-1"}})
    assert closed["code"] == -31053 and closed["data"] == "order_id"
    shown = await show(client, world, tx["id"])
    assert shown["status"] == "canceled" and shown["details"]["reason"] == 3
    await events.wait_for(tx["id"], "transaction.canceled")


async def test_an_order_canceled_by_its_creator_cannot_be_performed_and_records_paymes_cancel(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world, "gone")
    payme = Payme(client, world.accounts["payme"])
    ours, _ = await created(payme, "gone")
    response = await client.post(f"/v1/transactions/{tx['id']}/cancel", json={}, headers=world.auth)
    assert response.status_code == 202, response.text
    await until(client, world, tx["id"], "canceled")

    assert (await payme.error("PerformTransaction", {"id": ours}))["code"] == -31008
    canceled = await payme.result("CancelTransaction", {"id": ours, "reason": 3})
    assert canceled["state"] == -1 and canceled["cancel_time"] > 0
    shown = await show(client, world, tx["id"])
    assert shown["status"] == "canceled" and shown["details"]["state"] == -1 and shown["details"]["reason"] == 3


async def test_protocol_errors_are_json_rpc_errors_with_http_200(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    payme = Payme(client, world.accounts["payme"])
    auth = {"Authorization": VECTOR_HEADER}

    async def raw(content: bytes, method: str = "POST", path: str | None = None, **headers: str) -> dict[str, Any]:
        response = await client.request(method, path or payme.path, content=content, headers={**auth, **headers})
        assert response.status_code == 200 and response.headers["content-type"] == JSON_UTF8
        answer: dict[str, Any] = response.json()
        return answer

    for verb in ("GET", "PUT", "DELETE"):
        assert error_of(await raw(b"", verb))["code"] == -32300
    broken = await raw(b'{"id": 5, "method": ')
    assert broken["id"] is None and error_of(broken)["code"] == -32700
    assert error_of(await raw(b'{"id": 5, "params": {}}'))["code"] == -32600
    no_params = await raw(b'{"id": 5, "method": "CheckTransaction", "params": "x"}')
    assert no_params["id"] == 5 and error_of(no_params) | {"message": None} == {
        "code": -32600,
        "message": None,
        "data": "params",
    }
    unknown = error_of(await raw(b'{"id": 6, "method": "DropTables", "params": {}}'))
    assert unknown["code"] == -32601 and unknown["data"] == "DropTables"
    bad_params = await payme.error("CreateTransaction", {"id": payme_id(), "amount": 1, "account": {}})
    assert bad_params["code"] == -32600 and bad_params["data"] == "time"

    body = b'{"id": 7, "method": "CheckTransaction", "params": {"id": "x"}}'
    assert error_of(await raw(body, Authorization=""))["code"] == -32504
    assert (
        error_of(await raw(body, Authorization="Basic " + base64.b64encode(b"Paycom:wrong").decode()))["code"] == -32504
    )
    assert error_of(await raw(body, path=f"/webhooks/payme/{uuid.uuid4()}"))["code"] == -32504
    assert error_of(await raw(body, path="/webhooks/payme/not-a-uuid"))["code"] == -32504
    neighbour = await payme_tenant(engine, cipher, key="the-neighbours-key")
    elsewhere = await raw(body, path=f"/webhooks/payme/{neighbour.accounts['payme']}")
    assert error_of(elsewhere)["code"] == -32504, "one account's key opens no other account"


async def test_business_errors_name_the_account_field(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    payme = Payme(client, world.accounts["payme"])
    await order(client, world, "b-1")
    check = {"amount": 1_500_000, "account": {"order_id": "b-1"}}

    wrong = await payme.error("CheckPerformTransaction", {**check, "amount": 1_500_001})
    assert wrong["code"] == -31001 and wrong["message"]["en"] == "Incorrect amount"
    unknown = await payme.error("CheckPerformTransaction", {**check, "account": {"order_id": "nope"}})
    assert unknown["code"] == -31050 and unknown["data"] == "order_id"
    missing = await payme.error("CheckPerformTransaction", {**check, "account": {"phone": "998901234567"}})
    assert missing["code"] == -31050 and missing["data"] == "order_id"
    wrong_create = {"id": payme_id(), "time": now_ms(), **check, "amount": 1}
    assert (await payme.error("CreateTransaction", wrong_create))["code"] == -31001
    for method, params in (
        ("PerformTransaction", {"id": payme_id()}),
        ("CancelTransaction", {"id": payme_id(), "reason": 1}),
        ("CheckTransaction", {"id": payme_id()}),
        ("SetFiscalData", {"id": payme_id(), "type": "PERFORM", "fiscal_data": {}}),
    ):
        assert (await payme.error(method, params))["code"] == -31003, method

    first, _ = await created(payme, "b-1")
    busy = await payme.error("CreateTransaction", {"id": payme_id(), "time": now_ms(), **check})
    assert busy["code"] == -31051 and busy["data"] == "order_id"
    assert (await payme.error("CheckPerformTransaction", check))["code"] == -31051
    await payme.result("PerformTransaction", {"id": first})
    paid = await payme.error("CheckPerformTransaction", check)
    assert paid["code"] == -31052 and paid["data"] == "order_id"
    assert (await payme.error("CreateTransaction", {"id": first, "time": now_ms(), **check}))["code"] == -31008

    await create(client, world, gateway="payme", amount=500, currency="USD", details={"account": {"order_id": "usd"}})
    foreign = await payme.error("CheckPerformTransaction", {"amount": 500, "account": {"order_id": "usd"}})
    assert foreign["code"] == -31053, "Payme pays in sum only"


async def test_an_order_without_an_account_value_is_named_by_its_transaction_id(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world)
    encoded = tx["payment_url"].removeprefix("https://checkout.paycom.uz/")
    assert base64.b64decode(encoded).decode() == f"m={MERCHANT};ac.order_id={tx['id']};a=1500000"
    payme = Payme(client, world.accounts["payme"])
    assert await payme.result("CheckPerformTransaction", {"amount": 1_500_000, "account": {"order_id": tx["id"]}})
    _, result = await created(payme, tx["id"])
    assert result["transaction"] == tx["id"]
    assert (await show(client, world, tx["id"]))["details"]["account"] == {"order_id": tx["id"]}

    named = await order(client, world, "n-1")
    by_id = await payme.error("CheckPerformTransaction", {"amount": 1_500_000, "account": {"order_id": named["id"]}})
    assert by_id["code"] == -31050, "an order with its own value answers to that value only"


async def test_the_sandbox_key_works_and_change_password_replaces_only_the_key_used(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher, test_key="sandbox-key-123", sandbox=True)
    payme = Payme(client, world.accounts["payme"])
    await order(client, world, "k-1")
    check = {"amount": 1_500_000, "account": {"order_id": "k-1"}}
    assert await payme.result("CheckPerformTransaction", check, key="sandbox-key-123") == {"allow": True}

    changed = await payme.result("ChangePassword", {"password": "sandbox-key-456"}, key="sandbox-key-123")
    assert changed == {"success": True}
    assert (await payme.error("CheckPerformTransaction", check, key="sandbox-key-123"))["code"] == -32504
    assert await payme.result("CheckPerformTransaction", check, key="sandbox-key-456") == {"allow": True}
    assert await payme.result("CheckPerformTransaction", check) == {"allow": True}, "the live key is untouched"

    assert await payme.result("ChangePassword", {"password": "new-live-key", "credential": "test_key"}) == {
        "success": True
    }
    assert (await payme.error("CheckPerformTransaction", check))["code"] == -32504
    assert await payme.result("CheckPerformTransaction", check, key="new-live-key") == {"allow": True}
    assert await payme.result("CheckPerformTransaction", check, key="sandbox-key-456") == {"allow": True}, (
        "a `credential` in Payme's body cannot redirect the change"
    )


async def test_fiscal_data_is_stored_in_the_details(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world, "f-1")
    payme = Payme(client, world.accounts["payme"])
    ours, _ = await created(payme, "f-1")
    await payme.result("PerformTransaction", {"id": ours})
    receipt = {"receipt_id": 1811, "status_code": 0, "qr_code_url": "https://ofd.soliq.uz/check?t=1"}
    stored = await payme.result("SetFiscalData", {"id": ours, "type": "PERFORM", "fiscal_data": receipt})
    assert stored == {"success": True}
    assert (await show(client, world, tx["id"]))["details"]["fiscal_data"] == {"perform": receipt}
    bad = await payme.error("SetFiscalData", {"id": ours, "type": "REFUND", "fiscal_data": receipt})
    assert bad["code"] == -32600 and bad["data"] == "type"


async def test_get_statement_lists_only_this_accounts_payme_transactions_in_order(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    second = await GatewayAccounts(engine, cipher, world.tenant_id).add(ADAPTER, {"merchant_id": "m2", "key": "k-two"})
    payme, other = Payme(client, world.accounts["payme"]), Payme(client, second.id, key="k-two")
    base = now_ms() - 60_000
    placed: dict[int, str] = {}
    for offset, amount in ((3_000, 300), (1_000, 100), (2_000, 200)):  # created out of order on purpose
        value = f"s-{offset}"
        await order(client, world, value, amount=amount)
        placed[offset], _ = await created(payme, value, amount, time=base + offset)
    await order(client, world, "untouched")
    await create(
        client,
        world,
        gateway="payme",
        account_id=str(second.id),
        amount=999,
        details={"account": {"order_id": "s-other"}},
    )
    theirs, _ = await created(other, "s-other", 999, time=base + 1_500)

    listed = (await payme.result("GetStatement", {"from": base + 1_000, "to": base + 2_000}))["transactions"]
    assert [(e["id"], e["time"], e["amount"]) for e in listed] == [
        (placed[1_000], base + 1_000, 100),
        (placed[2_000], base + 2_000, 200),
    ]
    assert set(listed[0]) == {
        "id",
        "time",
        "amount",
        "account",
        "create_time",
        "perform_time",
        "cancel_time",
        "transaction",
        "state",
        "reason",
        "receivers",
    }
    assert listed[0]["account"] == {"order_id": "s-1000"} and listed[0]["state"] == 1
    assert listed[0]["perform_time"] == 0 and listed[0]["reason"] is None
    everything = (await payme.result("GetStatement", {"from": base, "to": base + 5_000}))["transactions"]
    assert [e["id"] for e in everything] == [placed[1_000], placed[2_000], placed[3_000]]
    assert [
        e["id"] for e in (await other.result("GetStatement", {"from": base, "to": base + 5_000}))["transactions"]
    ] == [theirs]
    assert (await payme.result("GetStatement", {"from": base + 5_000, "to": base + 9_000})) == {"transactions": []}


async def test_a_stale_create_is_refused_and_records_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world, "e-0")
    payme = Payme(client, world.accounts["payme"])
    stale = {
        "id": payme_id(),
        "time": now_ms() - TIMEOUT_MS - 5_000,
        "amount": 1_500_000,
        "account": {"order_id": "e-0"},
    }
    refused = await payme.error("CreateTransaction", stale)
    assert refused["code"] == -31008 and refused["message"]["en"] == "The transaction has expired"
    assert (await payme.error("CheckTransaction", {"id": stale["id"]}))["code"] == -31003
    assert (await show(client, world, tx["id"]))["status"] == "pending"


async def test_twelve_hours_after_payme_time_the_transaction_expires_with_reason_4(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await payme_tenant(engine, cipher)
    payme = Payme(client, world.accounts["payme"])
    called = await order(client, world, "e-1")
    forgotten = await order(client, world, "e-2")
    almost = now_ms() - TIMEOUT_MS + 1_500  # twelve hours old in 1.5 s
    asked, _ = await created(payme, "e-1", time=almost)
    left, _ = await created(payme, "e-2", time=almost)
    await asyncio.sleep(2.0)

    refused = await payme.error("PerformTransaction", {"id": asked})
    assert refused["code"] == -31008
    status = await payme.result("CheckTransaction", {"id": asked})
    assert status["state"] == -1 and status["reason"] == 4 and status["cancel_time"] > 0 and status["perform_time"] == 0
    assert (
        await payme.error(
            "CreateTransaction", {"id": asked, "time": almost, "amount": 1_500_000, "account": {"order_id": "e-1"}}
        )
    )["code"] == -31008
    assert await payme.result("CheckTransaction", {"id": asked}) == status, "cancel_time is stored once"
    assert (await show(client, world, called["id"]))["status"] == "expired"

    # Nobody calls about the other one: the scheduler expires it the same way.
    await until(client, world, forgotten["id"], "expired")
    swept = await payme.result("CheckTransaction", {"id": left})
    assert swept["state"] == -1 and swept["reason"] == 4 and swept["cancel_time"] > 0
    assert await payme.result("CancelTransaction", {"id": left, "reason": 4}) == {
        "transaction": forgotten["id"],
        "cancel_time": swept["cancel_time"],
        "state": -1,
    }
    audit = (await client.get(f"/v1/transactions/{forgotten['id']}/audit", headers=world.auth)).json()["items"]
    assert [e["actor"] for e in audit if e["action"] == "expire"] == ["scheduler"]
    for tx in (called, forgotten):
        await events.wait_for(tx["id"], "transaction.expired")
        assert len(events.of(tx["id"], "transaction.expired")) == 1


async def test_ten_identical_performs_at_once_make_one_transition_and_ten_identical_answers(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world, "p-10")
    ours, _ = await created(Payme(client, world.accounts["payme"]), "p-10")
    callers = [Payme(client, world.accounts["payme"]) for _ in range(10)]
    # Warm every pool on the way first, so the ten performs really meet in the processor.
    await asyncio.gather(*(caller.result("CheckTransaction", {"id": ours}) for caller in callers))
    answers = await asyncio.gather(*(caller.result("PerformTransaction", {"id": ours}) for caller in callers))
    assert all(answer == answers[0] for answer in answers) and answers[0]["state"] == 2
    await events.wait_for(tx["id"], "transaction.completed")
    await asyncio.sleep(1.0)  # a second event would have arrived by now
    assert len(events.of(tx["id"], "transaction.completed")) == 1
    audit = (await client.get(f"/v1/transactions/{tx['id']}/audit", headers=world.auth)).json()["items"]
    assert [e["action"] for e in audit].count("complete") == 1


async def test_a_cumulative_account_takes_a_repeat_payment_as_a_new_transaction(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, events: EventLog
) -> None:
    world = await payme_tenant(engine, cipher, one_time=False)
    first = await order(client, world, "wallet-7", amount=50_000, metadata={"project_id": "p-7"})
    payme = Payme(client, world.accounts["payme"])
    paid, _ = await created(payme, "wallet-7", 50_000)
    await payme.result("PerformTransaction", {"id": paid})
    assert await payme.result("CheckPerformTransaction", {"amount": 50_000, "account": {"order_id": "wallet-7"}})
    again, result = await created(payme, "wallet-7", 50_000)
    assert result["state"] == 1 and result["transaction"] != first["id"]
    await payme.result("PerformTransaction", {"id": again})
    repeat = await until(client, world, result["transaction"], "completed")
    assert repeat["amount"] == 50_000 and repeat["metadata"] == {"project_id": "p-7"}
    assert repeat["details"]["repeat_of"] == first["id"] and repeat["details"]["payme_id"] == again
    await events.wait_for(repeat["id"], "transaction.completed")
    assert (await show(client, world, first["id"]))["status"] == "completed"


async def test_refunds_of_payme_payments_cannot_be_requested_through_the_api(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    tx = await order(client, world, "no-refund")
    payme = Payme(client, world.accounts["payme"])
    ours, _ = await created(payme, "no-refund")
    await payme.result("PerformTransaction", {"id": ours})
    await until(client, world, tx["id"], "completed")
    refused = await client.post(
        f"/v1/transactions/{tx['id']}/refunds", json={}, headers={**world.auth, "Idempotency-Key": "r-payme"}
    )
    assert refused.status_code == 422 and refused.json()["code"] == "refund_not_supported"
    assert (await show(client, world, tx["id"]))["refunded_amount"] == 0


async def test_an_unanswered_call_is_a_system_error_payme_retries(
    client: httpx.AsyncClient, settings: Settings, servers: Servers, engine: AsyncEngine, cipher: Cipher
) -> None:
    vhost = await asyncio.to_thread(new_vhost, servers)
    if vhost.endswith("/"):
        return  # no rabbitmqctl: no broker of our own where no processor listens
    port = free_port()
    env = {**service_env(settings.model_copy(update={"amqp_url": vhost}), port), "BILLING_RPC_TIMEOUT_S": "1"}
    alone = System(env=env, port=port)  # an ingress with no processor behind it
    alone.start("ingress")
    try:
        await asyncio.to_thread(alone.wait_ready)
        world = await payme_tenant(engine, cipher)
        await order(client, world, "paid-elsewhere")  # through the running system, on the same database
        ours, _ = await created(Payme(client, world.accounts["payme"]), "paid-elsewhere")
        async with httpx.AsyncClient(base_url=alone.base_url, timeout=20) as http:
            alone_payme = Payme(http, world.accounts["payme"])
            error = await alone_payme.error("PerformTransaction", {"id": ours})
            unknown = await alone_payme.error("CheckTransaction", {"id": payme_id()})
            known = await alone_payme.result("CheckTransaction", {"id": ours})
        assert error["code"] == -32400 and error["message"]["en"].startswith("System error")
        assert unknown["code"] == -32400, "a read that finds nothing asks the processor, which does not answer"
        assert known["state"] == 1, "a read that finds its transaction is answered by the ingress itself"
    finally:
        alone.stop_all()
        await asyncio.to_thread(drop_vhost, vhost)


async def test_the_simulate_command_passes_against_the_running_service(
    system: System, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    command = [
        sys.executable,
        "-m",
        "shared.cli.main",
        "simulate",
        "payme",
        str(world.accounts["payme"]),
        "--base-url",
        system.base_url,
    ]
    result = await asyncio.to_thread(
        subprocess.run, command, env=system.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and "checks pass" in result.stdout
    passed, total = result.stdout.strip().splitlines()[-1].split()[0].split("/")
    assert passed == total and int(total) >= 15, result.stdout


async def test_the_read_methods_the_ingress_answers_are_the_processors_answers_byte_for_byte(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, settings: Settings
) -> None:
    """CheckPerformTransaction, CheckTransaction and GetStatement are answered by the ingress; the processor still
    answers them over request-reply (an ingress of an earlier version asks it): both answers are the same bytes."""
    world = await payme_tenant(engine, cipher)
    payme = Payme(client, world.accounts["payme"])
    tx = await order(client, world, "twin-reads")
    start = now_ms()
    reads: list[tuple[str, dict[str, Any]]] = [
        ("CheckPerformTransaction", {"amount": 1_500_000, "account": {"order_id": "twin-reads"}}),
        ("CheckPerformTransaction", {"amount": 1_000, "account": {"order_id": "twin-reads"}}),
        ("CheckPerformTransaction", {"amount": 1_500_000, "account": {"order_id": "nobody's"}}),
        ("CheckTransaction", {"id": payme_id()}),
    ]
    ours, _ = await created(payme, "twin-reads")
    reads += [("CheckTransaction", {"id": ours}), ("GetStatement", {"from": start - 1000, "to": now_ms() + 1000})]
    await payme.result("PerformTransaction", {"id": ours})
    reads += [("CheckTransaction", {"id": ours}), ("GetStatement", {"from": start - 1000, "to": now_ms() + 1000})]

    connection = await aio_pika.connect_robust(settings.amqp_url)
    rpc = RpcClient()
    try:
        await rpc.start(connection)
        for number, (method, params) in enumerate(reads):
            body = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
            here = await client.post(payme.path, json=body, headers={"Authorization": basic_header(KEY)})
            call = GatewayCall(
                gateway="payme",
                tenant_id=world.tenant_id,
                account_id=world.accounts["payme"],
                operation=method,
                params=params,
            )
            processor = answer_of(number, method, await rpc.call(call, 5))
            assert here.content == processor.body, (method, params)
    finally:
        await connection.close()
    assert tx["id"] in here.text


async def test_a_read_after_a_change_was_answered_sees_that_change(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    """The processor commits before it answers, and the ingress reads the primary: Payme's CheckTransaction right
    after a Create, Perform or Cancel was answered always shows what that call did (many orders at once)."""
    world = await payme_tenant(engine, cipher)

    async def cycle(value: str) -> list[int]:
        payme = Payme(client, world.accounts["payme"])  # one caller each: its own JSON-RPC ids
        await order(client, world, value)
        ours, _ = await created(payme, value)
        seen = [(await payme.result("CheckTransaction", {"id": ours}))["state"]]
        await payme.result("PerformTransaction", {"id": ours})
        seen.append((await payme.result("CheckTransaction", {"id": ours}))["state"])
        await payme.result("CancelTransaction", {"id": ours, "reason": 5})
        seen.append((await payme.result("CheckTransaction", {"id": ours}))["state"])
        return seen

    states = await asyncio.gather(*(cycle(f"seen-{n}") for n in range(24)))
    assert states == [[1, 2, -2]] * 24
