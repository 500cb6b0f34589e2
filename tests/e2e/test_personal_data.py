"""Card numbers sent through the gateway webhooks, the API and the broker are masked before anything is stored
or logged: a scan of every table's rows and of every service's log finds none; old gateway calls are purged."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta

import aio_pika
import httpx
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.gateways.integrator import SIGNATURE_HEADER, sign
from shared.persistence.tables import webhook_log
from shared.security.cipher import Cipher
from tests.support.http import create, until
from tests.support.payme import Payme, now_ms, payme_id, payme_tenant
from tests.support.system import System
from tests.support.world import INTEGRATOR_SECRET, TenantWorld

PAN = "4111111111111111"
PAN_SPACED = "4111 1111 1111 1111"
UZCARD = "8600312990314318"
CVV = "739"
FORMS = (PAN, PAN_SPACED, "4111-1111-1111-1111", UZCARD)


async def _table_texts(engine: AsyncEngine) -> dict[str, str]:
    """Every row of every table of the schema, as PostgreSQL's own text of the row."""
    async with engine.connect() as conn:
        names = (
            await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ).scalars()
        found = {}
        for name in list(names):
            rows = await conn.execute(text(f'SELECT t::text FROM "{name}" t'))  # names from the catalogue
            found[name] = "\n".join(rows.scalars())
        return found


async def test_no_stored_row_and_no_log_line_holds_a_card_number(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, cipher: Cipher, system: System
) -> None:
    # The integrator's callback: the card in its data and its note.
    tx = await create(client, tenant, gateway="integrator", amount=5000)
    body = json.dumps(
        {
            "transaction_id": tx["id"],
            "status": "failed",
            "error_note": f"declined card {PAN_SPACED}",
            "data": {"card": {"number": PAN, "cvv": CVV}, "masked_by_us": UZCARD},
        }
    ).encode()
    answer = await client.post(
        f"/webhooks/integrator/{tenant.accounts['integrator']}",
        content=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(INTEGRATOR_SECRET, body)},
    )
    assert answer.status_code == 200, answer.text
    failed = await until(client, tenant, tx["id"], "failed")
    assert failed["details"]["data"]["card"] == {"number": "411111******1111", "cvv": "[removed]"}

    # Payme's calls: a card in the account object of CheckPerformTransaction and CreateTransaction.
    world = await payme_tenant(engine, cipher)
    order_id = str(uuid.uuid4().int)[:12]
    await create(client, world, gateway="payme", amount=150_000, details={"account": {"order_id": order_id}})
    payme = Payme(client, world.accounts["payme"])
    account = {"order_id": order_id, "card": PAN_SPACED}
    await payme.send("CheckPerformTransaction", {"amount": 150_000, "account": account})
    params = {"id": payme_id(), "time": now_ms(), "amount": 150_000, "account": account}
    await payme.send("CreateTransaction", params)

    # The command API and an upstream command on the broker.
    paid = await create(client, tenant, metadata={"note": f"card {PAN}"}, details={"card": UZCARD})
    assert paid["metadata"]["note"] == "card 411111******1111" and paid["details"]["card"] == "860031******4318"
    refund = await client.post(
        f"/v1/transactions/{paid['id']}/cancel", json={"reason": f"wrong card {PAN}"}, headers=tenant.auth
    )
    assert refund.status_code == 202
    upstream_id = str(uuid.uuid4())
    connection = await aio_pika.connect(system.env["BILLING_AMQP_URL"])
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("billing.commands")
        command = {
            "command_id": upstream_id,
            "tenant_id": str(tenant.tenant_id),
            "gateway": "cash",
            "account_id": str(tenant.accounts["cash"]),
            "amount": 100,
            "currency": "UZS",
            "metadata": {"card": PAN},
        }
        await exchange.publish(aio_pika.Message(json.dumps(command).encode()), routing_key="transaction.create")
    finally:
        await connection.close()
    await until(client, tenant, paid["id"], "canceled")
    await asyncio.sleep(1.5)  # the upstream command and the last log lines land

    tables = await _table_texts(engine)
    assert "411111******1111" in tables["transactions"] and "411111******1111" in tables["webhook_log"]
    for name, rows in tables.items():
        for form in FORMS:
            assert form not in rows, f"{name} holds a card number"
        assert f'"cvv": "{CVV}"' not in rows and f'"cvv":"{CVV}"' not in rows
    for service in ("ingress", "processor", "refunds"):
        log = (system.logs / f"{service}.log").read_text(errors="replace")
        for form in FORMS:
            assert form not in log, f"{service}.log holds a card number"


async def test_gateway_calls_older_than_the_retention_are_purged_by_the_scheduler(
    engine: AsyncEngine, tenant: TenantWorld
) -> None:
    rows = {
        "old": utc_now() - timedelta(days=91),
        "recent": utc_now() - timedelta(days=89),
    }
    async with engine.begin() as conn:
        for marker, received in rows.items():
            await conn.execute(
                insert(webhook_log).values(
                    tenant_id=tenant.tenant_id,
                    account_id=tenant.accounts["integrator"],
                    gateway="integrator",
                    message_id=f"retention-{marker}-{tenant.tenant_id}",
                    payload={"marker": marker},
                    received_at=received,
                )
            )
    deadline = time.monotonic() + 15
    left: set[str] = set(rows)
    while time.monotonic() < deadline and "old" in left:
        await asyncio.sleep(0.5)
        async with engine.connect() as conn:
            found = await conn.execute(
                select(webhook_log.c.message_id).where(webhook_log.c.tenant_id == tenant.tenant_id)
            )
            left = {message_id.split("-")[1] for message_id in found.scalars()}
    assert left == {"recent"}, "the processor's scheduler keeps 90 days (BILLING_WEBHOOK_LOG_DAYS) and no more"
