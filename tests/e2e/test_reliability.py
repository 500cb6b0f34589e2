"""Nothing lost, nothing twice: duplicates, crashes, poison messages, a missing broker, refund races."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import aio_pika
import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.tables import transactions
from shared.settings import Settings
from tests.conftest import Servers, drop_vhost, new_vhost
from tests.support.events import EventLog
from tests.support.http import paid, until
from tests.support.system import System, free_port, service_env
from tests.support.world import TenantWorld


async def publish(amqp_url: str, routing_key: str, body: dict[str, Any] | bytes, times: int = 1) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("billing.commands")
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        for _ in range(times):
            message = aio_pika.Message(payload, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id="m")
            await exchange.publish(message, routing_key=routing_key)
    finally:
        await connection.close()


def create_command(world: TenantWorld, **extra: Any) -> dict[str, Any]:
    return {
        "command_id": str(uuid.uuid4()),
        "tenant_id": str(world.tenant_id),
        "gateway": "cash",
        "account_id": str(world.accounts["cash"]),
        "amount": 5000,
        "currency": "USD",
        "metadata": {"source": "projects"},
    } | extra


async def test_upstream_command_works_and_a_duplicate_is_processed_once(
    client: httpx.AsyncClient, tenant: TenantWorld, settings: Settings, events: EventLog
) -> None:
    tx_id = str(uuid.uuid4())
    await publish(settings.amqp_url, "transaction.create", create_command(tenant, transaction_id=tx_id), times=3)
    await until(client, tenant, tx_id, "pending")
    complete = {"command_id": f"c-{tx_id}", "tenant_id": str(tenant.tenant_id), "transaction_id": tx_id}
    await publish(settings.amqp_url, "transaction.complete", complete, times=2)
    await until(client, tenant, tx_id, "completed")
    await events.wait_for(tx_id, "transaction.completed")
    await asyncio.sleep(1.0)
    assert [r.routing_key for r in events.of(tx_id)] == ["transaction.created", "transaction.completed"]
    audit = (await client.get(f"/v1/transactions/{tx_id}/audit", headers=tenant.auth)).json()["items"]
    assert [e["action"] for e in audit] == ["create", "complete"]


async def test_a_bad_command_is_parked_with_its_reason_and_can_be_replayed(
    tenant: TenantWorld, system: System, client: httpx.AsyncClient
) -> None:
    await publish(system.env["BILLING_AMQP_URL"], "transaction.create", b"{not json")
    fixable = create_command(tenant, amount="12")  # a string amount: the schema refuses it
    await publish(system.env["BILLING_AMQP_URL"], "transaction.create", fixable)
    await asyncio.sleep(1.5)
    listed = _cli(system, "dlq", "list")
    reasons = [item["reason"] for item in listed["items"]]
    assert any("not JSON" in (reason or "") for reason in reasons), reasons
    assert any("amount" in (reason or "") for reason in reasons), reasons
    again = _cli(system, "dlq", "list")
    assert len(again["items"]) == len(listed["items"]), "listing leaves the messages parked"
    replayed = _cli(system, "dlq", "replay", "--all")
    assert len(replayed["replayed"]) == len(listed["items"])
    await asyncio.sleep(1.5)
    assert len(_cli(system, "dlq", "list")["items"]) == len(listed["items"]), "still bad, so parked again"


def _cli(system: System, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args], env=system.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


async def test_killing_the_processor_mid_stream_loses_nothing_and_doubles_nothing(
    tenant: TenantWorld, system: System, engine: AsyncEngine, events: EventLog
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(400)]
    connection = await aio_pika.connect(system.env["BILLING_AMQP_URL"])
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange("billing.commands")
    await asyncio.gather(
        *(
            exchange.publish(
                aio_pika.Message(
                    json.dumps(create_command(tenant, transaction_id=tx_id, command_id=tx_id)).encode(),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="transaction.create",
            )
            for tx_id in ids
        )
    )
    await connection.close()
    while await _count(engine, tenant) < 40:
        await asyncio.sleep(0.02)
    system.kill("processor")  # SIGKILL: no chance to finish or ack what it holds
    in_between = await _count(engine, tenant)
    assert in_between < len(ids), "the crash came mid-stream"
    system.start("processor")
    for _ in range(300):
        if await _count(engine, tenant) == len(ids):
            break
        await asyncio.sleep(0.1)
    assert await _count(engine, tenant) == len(ids)
    for _ in range(300):
        if all(events.of(tx_id, "transaction.created") for tx_id in ids):
            break
        await asyncio.sleep(0.1)
    for tx_id in ids:
        created = {r.message_id for r in events.of(tx_id, "transaction.created")}
        assert len(created) == 1, f"{tx_id}: {created}"


async def _count(engine: AsyncEngine, world: TenantWorld) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(transactions.c.tenant_id == world.tenant_id)
        return int((await conn.execute(query)).scalar_one())


async def test_twenty_concurrent_refunds_never_refund_more_than_was_paid(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    done = await paid(client, tenant, amount=10_000)
    answers = await asyncio.gather(
        *(
            client.post(
                f"/v1/transactions/{done['id']}/refunds",
                json={"amount": 3_000},
                headers={**tenant.auth, "Idempotency-Key": f"race-{i}"},
            )
            for i in range(20)
        )
    )
    assert all(a.status_code in (202, 422) for a in answers)
    accepted = sum(a.status_code == 202 for a in answers)
    for _ in range(300):
        items = (await client.get(f"/v1/transactions/{done['id']}/refunds", headers=tenant.auth)).json()["items"]
        # Every accepted request ends as a refund record, settled one way or the other.
        if len(items) == accepted and all(r["status"] != "requested" for r in items):
            break
        await asyncio.sleep(0.1)
    succeeded = [r for r in items if r["status"] == "succeeded"]
    assert sum(r["amount"] for r in succeeded) == 9_000
    assert all(r["error"] for r in items if r["status"] == "failed")
    final = (await client.get(f"/v1/transactions/{done['id']}", headers=tenant.auth)).json()
    assert final["refunded_amount"] == 9_000 and final["status"] == "partially_refunded"


async def test_ingress_answers_503_when_the_broker_cannot_confirm(
    settings: Settings, servers: Servers, tenant: TenantWorld
) -> None:
    vhost_url = new_vhost(servers)
    if vhost_url.endswith("/"):
        return  # no rabbitmqctl here: the broker cannot be taken away from this ingress alone
    port = free_port()
    alone = System(env=service_env(settings.model_copy(update={"amqp_url": vhost_url}), port), port=port)
    alone.start("ingress")
    try:
        alone.wait_ready()
        drop_vhost(vhost_url)  # the broker is gone for this ingress
        await asyncio.sleep(1.0)
        body = {"gateway": "cash", "account_id": str(tenant.accounts["cash"]), "amount": 100, "currency": "UZS"}
        async with httpx.AsyncClient(base_url=alone.base_url, timeout=20) as http:
            response = await http.post("/v1/transactions", json=body, headers=tenant.auth)
            ready = await http.get("/health/ready")
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "broker_unavailable"
        assert ready.status_code == 503
    finally:
        alone.stop_all()
        os.environ.pop("UNUSED", None)
