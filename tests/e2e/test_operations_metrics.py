"""Each running service serves Prometheus metrics at /metrics, and a payment moves the counters it should."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.events import EventLog
from tests.support.http import paid, until
from tests.support.system import SERVICES, System
from tests.support.world import TenantWorld

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(system: System, service: str) -> Samples:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(system.metrics_url(service))
    assert response.status_code == 200, f"{service}: {response.status_code}"
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def moved(system: System, service: str, before: Samples, name: str, **labels: str) -> Samples:
    """Wait (briefly) until the counter grew: some are counted just after the effect they count is visible."""
    deadline = time.monotonic() + 10
    while True:
        now = await scrape(system, service)
        grown = value(now, name, **labels) - value(before, name, **labels)
        if grown >= 1:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"{service} {name}{labels} did not grow")
        await asyncio.sleep(0.2)


async def test_every_service_serves_its_metrics(system: System) -> None:
    for service in SERVICES:
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(system.metrics_url(service))).text
        assert "# TYPE billing_messages_consumed_total counter" in text, service
        assert "# TYPE billing_payments_total counter" in text, service
        assert "process_cpu_seconds_total" in text, service


async def test_a_payment_and_a_refund_move_the_counters(
    system: System, client: httpx.AsyncClient, tenant: TenantWorld, events: EventLog
) -> None:
    before = {service: await scrape(system, service) for service in SERVICES}
    tx = await paid(client, tenant, amount=40_000)
    refund = await client.post(f"/v1/transactions/{tx['id']}/refunds", json={}, headers=tenant.auth)
    assert refund.status_code == 202, refund.text
    await until(client, tenant, tx["id"], "refunded")
    await events.wait_for(tx["id"], "transaction.refunded")

    ingress = await moved(
        system, "ingress", before["ingress"], "billing_http_requests_total",
        method="POST", route="/v1/transactions", status="201",
    )  # fmt: skip
    complete = {"method": "POST", "route": "/v1/transactions/{transaction_id}/complete"}
    assert value(ingress, "billing_http_requests_total", status="202", **complete) >= 1
    create = {"method": "POST", "route": "/v1/transactions"}
    latency = "billing_http_request_duration_seconds_count"
    assert value(ingress, latency, **create) > value(before["ingress"], latency, **create)
    for key in ("transaction.create", "transaction.complete", "refund.request"):
        assert value(ingress, "billing_messages_published_total", exchange="billing.commands", routing_key=key) >= 1

    processor = before["processor"]
    for key in ("transaction.create", "transaction.complete"):
        processor = await moved(
            system, "processor", before["processor"], "billing_messages_consumed_total",
            queue="billing.processor", routing_key=key, outcome="done",
        )  # fmt: skip
        handled = value(processor, "billing_message_handling_seconds_count", queue="billing.processor", routing_key=key)
        assert handled >= 1
    for status in ("pending", "completed"):
        await moved(system, "processor", before["processor"], "billing_payments_total", gateway="cash", status=status)
    for kind in ("transaction.created", "transaction.completed", "transaction.refunded"):
        processor = await moved(
            system, "processor", before["processor"], "billing_events_relayed_total", routing_key=kind
        )
    events_out = {"exchange": "billing.events", "routing_key": "transaction.refunded"}
    assert value(processor, "billing_messages_published_total", **events_out) >= 1
    assert value(processor, "billing_outbox_unsent") >= 0 and value(processor, "billing_outbox_lag_seconds") >= 0
    assert ("billing_outbox_lag_seconds", frozenset()) in processor

    refunds = await moved(
        system, "refunds", before["refunds"], "billing_messages_consumed_total",
        queue="billing.refunds", routing_key="refund.request", outcome="done",
    )  # fmt: skip
    assert value(refunds, "billing_payments_total", gateway="cash", status="refunded") >= 1


async def test_a_poison_message_counts_as_parked(system: System) -> None:
    before = await scrape(system, "processor")
    connection = await aio_pika.connect(system.env["BILLING_AMQP_URL"])
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("billing.commands")
        message = aio_pika.Message(b"{not json", message_id=f"poison-{uuid.uuid4()}")
        await exchange.publish(message, routing_key="transaction.cancel")
    finally:
        await connection.close()
    labels = {"queue": "billing.processor", "routing_key": "transaction.cancel"}
    after = await moved(system, "processor", before, "billing_messages_parked_total", reason="invalid", **labels)
    assert value(after, "billing_messages_consumed_total", outcome="parked", **labels) > value(
        before, "billing_messages_consumed_total", outcome="parked", **labels
    )
    assert value(after, "billing_messages_published_total", exchange="amq.default", routing_key="billing.parking") >= 1


async def test_the_public_port_does_not_serve_metrics(system: System, client: httpx.AsyncClient) -> None:
    public = await client.get("/metrics")
    assert public.status_code == 404
    assert "billing_payments_total" not in public.text
    assert system.metrics_url("ingress") != f"{system.base_url}/metrics"
