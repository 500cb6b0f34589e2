"""A processor killed between Octo's answer and its record, with the command gone: the janitor heals it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aio_pika
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.broker.topology import PROCESSOR
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_vhost, new_vhost
from tests.support.fakes.octo import FakeOcto
from tests.support.system import System, free_port, service_env
from tests.support.world import make_tenant


@pytest.fixture
def octo() -> Iterator[FakeOcto]:
    fake = FakeOcto().start()
    yield fake
    fake.stop()


@pytest.fixture
def quick_janitor(settings: Settings, servers: Servers) -> Iterator[System]:
    """Services of their own whose janitor asks about a stale payment after one second."""
    vhost = new_vhost(servers)
    if vhost.endswith("/"):
        pytest.skip("needs a vhost of its own (rabbitmqctl) to lose the command on purpose")
    port = free_port()
    env = service_env(settings.model_copy(update={"amqp_url": vhost}), port) | {"BILLING_JANITOR_AFTER_S": "1"}
    running = System(env=env, port=port)
    running.start_all()
    yield running
    running.stop_all()
    drop_vhost(vhost)


async def test_the_janitor_records_the_payment_the_dead_worker_never_did(
    engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, quick_janitor: System
) -> None:
    world = await make_tenant(engine, cipher, configs={"octo": octo.account_config()})
    octo.hold_next_prepare(4.0)
    body = {"gateway": "octo", "account_id": str(world.accounts["octo"]), "amount": 50_000, "currency": "UZS"}
    async with httpx.AsyncClient(base_url=quick_janitor.base_url, timeout=20) as client:
        accepted = await client.post("/v1/transactions", json=body, headers=world.auth)
        assert accepted.status_code == 202
        tx_id = accepted.json()["id"]
        for _ in range(200):
            if octo.calls("/prepare_payment", shop_transaction_id=tx_id):
                break
            await asyncio.sleep(0.05)
        quick_janitor.kill("processor")  # Octo has the payment; we never heard the answer
        connection = await aio_pika.connect(quick_janitor.env["BILLING_AMQP_URL"])
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(PROCESSOR.name, passive=True)
            await queue.purge()  # the create command is gone: no redelivery can resume the call
        finally:
            await connection.close()
        quick_janitor.start("processor")

        healed: dict[str, object] = {}
        for _ in range(300):
            healed = (await client.get(f"/v1/transactions/{tx_id}", headers=world.auth)).json()
            if healed.get("payment_url"):
                break
            await asyncio.sleep(0.1)
    payment = octo.payment(tx_id)
    assert healed["payment_url"] == payment.pay_url, healed
    assert len(octo.payments) == 1, "the janitor asked with the same ids: still one payment at Octo"
    calls = octo.calls("/prepare_payment", shop_transaction_id=tx_id)
    assert len(calls) >= 2 and len({repr(c.body) for c in calls}) == 1
