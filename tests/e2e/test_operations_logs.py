"""A full scenario through the spawned services, traced to stdout: the log files are JSON lines carrying the
tenant, transaction and message ids, they hold no secret, key or card number, and one request is one trace
across the ingress and the workers.

The services here run with BILLING_TRACING=console and BILLING_LOG_LEVEL=DEBUG on a database and vhost of
their own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import pytest

from shared.gateways.integrator import SIGNATURE_HEADER, sign
from shared.persistence.database import create_engine
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_database, drop_vhost, new_database, new_vhost
from tests.support.http import until
from tests.support.system import System, free_port, service_env
from tests.support.world import TenantWorld, make_tenant

INTEGRATOR_SECRET = f"integrator-{uuid.uuid4().hex}"
CARD = "4111111111111111"
CARD_SPACED = "4111 1111 1111 1111"
WRONG_KEY = f"bk_{uuid.uuid4().hex}_{uuid.uuid4().hex}"
STRIPE_KEY = f"sk_test_{uuid.uuid4().hex}"
REFUND_REQUEST_ID = f"refund-{uuid.uuid4().hex}"


@dataclass
class Scenario:
    system: System
    tenant: TenantWorld
    transaction_id: str
    refund_id: str
    account_id: str

    def lines(self, service: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text(service).splitlines() if line.strip()]

    def text(self, service: str) -> str:
        return (self.system.logs / f"{service}.log").read_text()

    def logs(self, service: str) -> list[dict[str, Any]]:
        return [line for line in self.lines(service) if "event" in line and "context" not in line]

    def spans(self, service: str) -> list[dict[str, Any]]:
        return [line for line in self.lines(service) if "context" in line and "kind" in line]


@pytest.fixture(scope="module")
def traced_system(servers: Servers, settings: Settings) -> Iterator[System]:
    database_url = new_database(servers)
    amqp_url = new_vhost(servers)
    port = free_port()
    own = settings.model_copy(update={"database_url": database_url, "amqp_url": amqp_url})
    # DEBUG: every request and message gets its line, and every library's debug output is checked too.
    env = {**service_env(own, port), "BILLING_TRACING": "console", "BILLING_LOG_LEVEL": "DEBUG"}
    running = System(env=env, port=port)
    running.start_all()
    try:
        yield running
    finally:
        running.stop_all()
        drop_vhost(amqp_url)
        drop_database(database_url)


@pytest.fixture(scope="module")
async def scenario(traced_system: System) -> AsyncIterator[Scenario]:
    env = traced_system.env
    engine = create_engine(env["BILLING_DATABASE_URL"], pool_size=2)
    try:
        tenant = await make_tenant(engine, Cipher(env["BILLING_SECRET_KEY"]), configs={})
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=traced_system.base_url, timeout=20) as client:
        yield await play(client, traced_system, tenant)


async def play(client: httpx.AsyncClient, system: System, tenant: TenantWorld) -> Scenario:
    """Account via the API, a payment, a signed callback, a refund, bad keys, and an upstream command with a PAN."""
    account = await client.post(
        "/v1/gateway-accounts",
        json={"gateway": "integrator", "config": {"secret": INTEGRATOR_SECRET, "name": "pos"}},
        headers=tenant.auth,
    )
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    created = await client.post(
        "/v1/transactions?wait=true",
        json={
            "gateway": "integrator",
            "account_id": account_id,
            "amount": 25_000,
            "currency": "UZS",
            "metadata": {"note": f"paid with {CARD_SPACED}"},
        },
        headers={**tenant.auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    tx_id = created.json()["id"]
    body = json.dumps({"transaction_id": tx_id, "status": "completed", "data": {"card": CARD}}).encode()
    callback = await client.post(
        f"/webhooks/integrator/{account_id}",
        content=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(INTEGRATOR_SECRET, body)},
    )
    assert callback.status_code == 200, callback.text
    await until(client, tenant, tx_id, "completed")
    refund = await client.post(
        f"/v1/transactions/{tx_id}/refunds",
        json={"reason": f"customer card {CARD} charged twice"},
        headers={**tenant.auth, "Idempotency-Key": str(uuid.uuid4()), "X-Request-ID": REFUND_REQUEST_ID},
    )
    assert refund.status_code == 202, refund.text
    assert refund.headers["X-Request-ID"] == REFUND_REQUEST_ID
    await until(client, tenant, tx_id, "refunded")
    for wrong in (WRONG_KEY, STRIPE_KEY):
        refused = await client.get("/v1/transactions", headers={"Authorization": f"Bearer {wrong}"})
        assert refused.status_code == 401
    await publish_refused_command(system.env["BILLING_AMQP_URL"], tenant, account_id)
    await asyncio.sleep(1.5)  # the refused command and the last spans reach the files
    return Scenario(system, tenant, tx_id, refund.json()["id"], account_id)


async def publish_refused_command(amqp_url: str, tenant: TenantWorld, account_id: str) -> None:
    """An upstream create whose currency is a card number: the domain's refusal quotes it, the log must not."""
    command = {
        "command_id": str(uuid.uuid4()),
        "tenant_id": str(tenant.tenant_id),
        "gateway": "integrator",
        "account_id": account_id,
        "amount": 100,
        "currency": CARD,
    }
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("billing.commands")
        await exchange.publish(aio_pika.Message(json.dumps(command).encode()), routing_key="transaction.create")
    finally:
        await connection.close()


def test_logs_hold_no_secret_key_or_card_number(scenario: Scenario) -> None:
    secrets = (scenario.tenant.key, INTEGRATOR_SECRET, CARD, CARD_SPACED, WRONG_KEY, STRIPE_KEY)
    for service in ("ingress", "processor", "refunds"):
        text = scenario.text(service)
        assert text, f"{service} wrote nothing"
        for secret in secrets:
            assert secret not in text, f"{service}.log leaks {secret[:8]}..."
    refused = [line for line in scenario.logs("processor") if line["event"] == "command refused"]
    # The command's card number was masked when it arrived (shared/security/pan.py), before the refusal quoted it.
    assert refused and "411111******1111" in refused[0]["reason"], "the refusal is logged, masked"
    assert refused[0]["tenant_id"] == str(scenario.tenant.tenant_id)


def test_every_line_is_json_with_the_ids_it_concerns(scenario: Scenario) -> None:
    tenant_id, tx_id = str(scenario.tenant.tenant_id), scenario.transaction_id
    for service in ("ingress", "processor", "refunds"):
        for line in scenario.logs(service):
            assert line["service"] == service and "timestamp" in line and "level" in line
    requests = [line for line in scenario.logs("ingress") if line["event"] == "request"]
    create = next(r for r in requests if r["route"] == "/v1/transactions" and r["method"] == "POST")
    assert create["tenant_id"] == tenant_id and create["status"] == 201 and create["request_id"]
    assert uuid.UUID(create["key_id"]).hex == scenario.tenant.key.split("_")[1], "which key, never the key"
    refund = next(r for r in requests if r["route"] == "/v1/transactions/{transaction_id}/refunds")
    assert refund["tenant_id"] == tenant_id and refund["transaction_id"] == tx_id
    webhook = next(r for r in requests if r["route"].startswith("/webhooks/integrator/"))
    assert webhook["tenant_id"] == tenant_id and webhook["account_id"] == scenario.account_id
    unauthenticated = [r for r in requests if r["status"] == 401]
    assert len(unauthenticated) == 2 and all("tenant_id" not in r for r in unauthenticated)

    handled = [line for line in scenario.logs("processor") if line["event"] == "message handled"]
    kinds = {(h["routing_key"], h["outcome"]) for h in handled if h.get("transaction_id") == tx_id}
    assert {("transaction.create", "done"), ("gateway.integrator.status", "done")} <= kinds
    assert all(h["tenant_id"] == tenant_id and h["message_id"] for h in handled if h.get("transaction_id") == tx_id)
    (settled,) = [line for line in scenario.logs("refunds") if line["event"] == "message handled"]
    assert settled["transaction_id"] == tx_id and settled["refund_id"] == scenario.refund_id
    assert settled["routing_key"] == "refund.request" and settled["outcome"] == "done"


def trace_id(span: dict[str, Any]) -> str:
    return str(span["context"]["trace_id"]).removeprefix("0x")


def test_a_request_and_the_command_it_sends_share_one_trace(scenario: Scenario) -> None:
    servers = [s for s in scenario.spans("ingress") if s["kind"] == "SpanKind.SERVER"]
    create = next(s for s in servers if s["attributes"].get("http.route") == "/v1/transactions")
    refund = next(
        s for s in servers if s["attributes"].get("http.route") == "/v1/transactions/{transaction_id}/refunds"
    )
    consumed = {
        s["attributes"]["messaging.rabbitmq.destination.routing_key"]: s
        for service in ("processor", "refunds")
        for s in scenario.spans(service)
        if s["kind"] == "SpanKind.CONSUMER" and s["attributes"].get("billing.outcome") == "done"
    }
    assert trace_id(consumed["transaction.create"]) == trace_id(create)
    assert trace_id(consumed["refund.request"]) == trace_id(refund)
    assert trace_id(create) != trace_id(refund)
    database = [s for s in scenario.spans("processor") if s["kind"] == "SpanKind.CLIENT"]
    assert any(trace_id(s) == trace_id(create) for s in database), "the worker's queries join the trace"
    handled = [line for line in scenario.logs("processor") if line["event"] == "message handled"]
    create_line = next(h for h in handled if h["routing_key"] == "transaction.create" and h["outcome"] == "done")
    assert create_line["trace_id"] == trace_id(create), "log lines carry the trace id"


def test_spans_name_their_service(scenario: Scenario) -> None:
    for service in ("ingress", "processor", "refunds"):
        names = {s["resource"]["attributes"]["service.name"] for s in scenario.spans(service)}
        assert names == {f"billing-{service}"}, names


def test_the_callers_request_id_follows_its_command_into_logs_and_spans(scenario: Scenario) -> None:
    requests = [line for line in scenario.logs("ingress") if line["event"] == "request"]
    (refund,) = [r for r in requests if r.get("request_id") == REFUND_REQUEST_ID]
    assert refund["route"] == "/v1/transactions/{transaction_id}/refunds"
    (settled,) = [line for line in scenario.logs("refunds") if line["event"] == "message handled"]
    assert settled["request_id"] == REFUND_REQUEST_ID and settled["routing_key"] == "refund.request"
    consumed = [s for s in scenario.spans("refunds") if s["kind"] == "SpanKind.CONSUMER"]
    assert any(s["attributes"].get("billing.request_id") == REFUND_REQUEST_ID for s in consumed)
    server = [s for s in scenario.spans("ingress") if s["kind"] == "SpanKind.SERVER"]
    assert any(s["attributes"].get("billing.request_id") == REFUND_REQUEST_ID for s in server)
