"""The metrics only the failure paths move: unconfirmed publishes, and the outbox backlog while RabbitMQ is away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from shared.broker.publisher import BrokerUnavailable, ConfirmedPublisher
from shared.broker.relay import OutboxRelay
from shared.clock import utc_now
from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.persistence.database import create_engine, raw_dsn
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from tests.conftest import Servers, drop_database, new_database
from tests.integration.conftest import Broker
from tests.support.world import make_tenant


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_unroutable_publish_counts_as_a_failure_not_a_publish(broker: Broker) -> None:
    labels = {"exchange": "amq.default", "routing_key": f"nowhere-{uuid.uuid4().hex}"}
    with pytest.raises(BrokerUnavailable):
        await broker.publisher.publish("", labels["routing_key"], b"{}")
    assert sample("billing_publish_failures_total", **labels) == 1
    assert sample("billing_messages_published_total", **labels) == 0
    await broker.publisher.publish("", "billing.parking", b"{}", message_id=f"metrics-{uuid.uuid4()}")
    assert sample("billing_messages_published_total", exchange="amq.default", routing_key="billing.parking") >= 1


@pytest.fixture
async def own_database(servers: Servers) -> AsyncIterator[str]:
    """A database of its own: the e2e workers' relay drains the session database's outbox."""
    url = await asyncio.to_thread(new_database, servers)
    yield url
    await asyncio.to_thread(drop_database, url)


async def test_the_relay_reports_the_backlog_while_rabbitmq_is_unreachable(own_database: str, cipher: Cipher) -> None:
    engine = create_engine(own_database, pool_size=2)
    try:
        tenant = await make_tenant(engine, cipher)
        tx = Transaction.open(
            id=uuid.uuid4(),
            tenant_id=tenant.tenant_id,
            account_id=tenant.accounts["cash"],
            gateway="cash",
            money=Money.of(5_000, "UZS"),
            details={},
            metadata={},
            at=utc_now(),
        )
        async with UnitOfWork(engine, cipher) as uow:
            uow.transactions(tenant.tenant_id).add(tx)
            await uow.commit(actor="tests", request_id=None)
        failures = sample(
            "billing_publish_failures_total", exchange="billing.events", routing_key="transaction.created"
        )
        unstarted = ConfirmedPublisher("amqp://guest:guest@127.0.0.1:1/")  # never connected: no channel
        relay = OutboxRelay(engine, unstarted, raw_dsn(own_database))
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(2.5)
        stop.set()
        await running
    finally:
        await engine.dispose()
    assert sample("billing_outbox_unsent") == 1
    assert sample("billing_outbox_lag_seconds") >= 1.0, "the row has waited since the relay started"
    assert (
        sample("billing_publish_failures_total", exchange="billing.events", routing_key="transaction.created")
        > failures
    )
