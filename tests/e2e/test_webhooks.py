"""Merchant webhooks end to end: the running services POST signed events to real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shared.security.apikeys import Permission
from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.http import paid
from tests.support.receiver import Answer, Receiver
from tests.support.system import System, free_port
from tests.support.world import TenantWorld, make_tenant

COMPLETED = "transaction.completed"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = await Receiver().start()
    yield running
    await running.stop()


async def add_endpoint(
    client: httpx.AsyncClient, world: TenantWorld, url: str, events: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": url, "events": events or [COMPLETED], **extra}, headers=world.auth
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deliveries(client: httpx.AsyncClient, world: TenantWorld, endpoint_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=world.auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled(
    client: httpx.AsyncClient, world: TenantWorld, endpoint_id: str, status: str, timeout: float = 20.0
) -> dict[str, Any]:
    """The endpoint's only delivery once it has `status`."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = await deliveries(client, world, endpoint_id)
        if len(seen) == 1 and seen[0]["status"] == status:
            return seen[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no single {status} delivery within {timeout} s: {seen}")


async def test_a_payment_reaches_the_endpoint_signed_and_is_listed_as_delivered(
    client: httpx.AsyncClient, tenant: TenantWorld, receiver: Receiver
) -> None:
    endpoint = await add_endpoint(client, tenant, receiver.url, description="shop backend")
    assert set(endpoint) == {"id", "url", "events", "description", "enabled", "secret", "created_at"}
    assert endpoint["secret"].startswith("whsec_") and endpoint["enabled"] is True
    assert endpoint["events"] == [COMPLETED] and endpoint["description"] == "shop backend"

    tx = await paid(client, tenant)
    (request,) = await receiver.wait_for(1)
    event = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert event["type"] == f"billing.{COMPLETED}" and event["subject"] == tx["id"]
    assert event["tenantid"] == str(tenant.tenant_id) and event["data"]["status"] == "completed"
    assert request.headers["webhook-id"] == event["id"]
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(request.body, request.headers)

    delivery = await settled(client, tenant, endpoint["id"], "delivered")
    assert delivery["event_id"] == event["id"] and delivery["event_type"] == COMPLETED
    assert delivery["next_attempt_at"] is None
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["response_excerpt"] == "ok"
    assert attempt["duration_ms"] >= 0

    listed = (await client.get("/v1/webhook-endpoints", headers=tenant.auth)).json()["items"]
    assert [item["id"] for item in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    one = (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.auth)).json()
    assert one == {k: v for k, v in endpoint.items() if k != "secret"}
    await asyncio.sleep(1.5)
    assert len(receiver.requests) == 1, "transaction.created is not among the endpoint's events"


async def test_the_first_endpoint_of_a_tenant_that_paid_before_gets_the_very_next_payment(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, receiver: Receiver
) -> None:
    """The worker skips events of tenants without an endpoint from a set it keeps while it hears PostgreSQL's
    notices: an endpoint added between two payments gets the second one's event."""
    world = await make_tenant(engine, cipher)
    await paid(client, world)
    await paid(client, world)  # the worker has now seen this tenant without an endpoint
    endpoint = await add_endpoint(client, world, receiver.url)
    tx = await paid(client, world)
    (request,) = await receiver.wait_for(1)
    assert Webhook(endpoint["secret"]).verify(request.body, request.headers)["subject"] == tx["id"]


async def test_three_failures_then_ok_is_delivered_once_after_four_attempts_and_never_again(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    receiver = await Receiver(script=[Answer(500), Answer(502, body=b"x" * 5000)]).start()
    # A redirect is a failed attempt, never followed (following it would be a fifth request).
    receiver.script.append(Answer(307, headers=(("location", receiver.url),)))
    try:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        await paid(client, tenant)
        delivery = await settled(client, tenant, endpoint["id"], "delivered")
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 307, 200]
        assert len(delivery["attempts"][1]["response_excerpt"]) == 1024, "an answer is kept up to 1 KiB"
        await asyncio.sleep(2.0)  # four times the test schedule's delay: a fifth attempt would have come
        assert len(receiver.requests) == 4
        assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["event_id"]}
        for request in receiver.requests:
            Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert len((await settled(client, tenant, endpoint["id"], "delivered"))["attempts"]) == 4
    finally:
        await receiver.stop()


async def test_an_endpoint_that_never_answers_well_fails_after_the_schedule_and_can_be_retried_by_hand(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    receiver = await Receiver(then=Answer(500)).start()
    try:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        await paid(client, tenant)
        failed = await settled(client, tenant, endpoint["id"], "failed")
        assert len(failed["attempts"]) == 6, "one attempt, then one per delay of the test schedule (five)"
        assert failed["next_attempt_at"] is None
        receiver.then = Answer(200)
        response = await client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{failed['id']}/retry", headers=tenant.auth
        )
        assert response.status_code == 202, response.text
        delivered = await settled(client, tenant, endpoint["id"], "delivered")
        assert len(delivered["attempts"]) == 7 and delivered["attempts"][-1]["status_code"] == 200
        assert {r.headers["webhook-id"] for r in receiver.requests} == {failed["event_id"]}
    finally:
        await receiver.stop()


async def test_a_worker_killed_mid_delivery_delivers_after_restart_with_the_same_webhook_id(
    system: System, client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    receiver = await Receiver(script=[Answer(200, delay_s=5.0)]).start()
    try:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        await paid(client, tenant)
        (first,) = await receiver.wait_for(1)
        system.kill("webhooks")  # SIGKILL while the POST is in flight: nothing of it was written down
        system.start("webhooks")
        requests = await receiver.wait_for(2, timeout=40)
        assert requests[1].headers["webhook-id"] == first.headers["webhook-id"]
        Webhook(endpoint["secret"]).verify(requests[1].body, requests[1].headers)
        delivery = await settled(client, tenant, endpoint["id"], "delivered")
        assert delivery["event_id"] == first.headers["webhook-id"]
    finally:
        await receiver.stop()


async def test_a_hanging_endpoint_is_cut_at_ten_seconds_while_another_is_served(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    hanging = await Receiver(script=[Answer(200, delay_s=30.0)]).start()
    quick = await Receiver().start()
    try:
        slow_endpoint = await add_endpoint(client, tenant, hanging.url)
        quick_endpoint = await add_endpoint(client, tenant, quick.url)
        await paid(client, tenant)
        (hung,) = await hanging.wait_for(1)
        first_quick = (await quick.wait_for(1))[0]
        await paid(client, tenant)
        second_quick = (await quick.wait_for(2))[1]
        assert hung.answered is None, "the hanging endpoint is still holding its first request"
        assert second_quick.arrived - hung.arrived < 9, "the other endpoint was served meanwhile"
        assert first_quick.headers["webhook-id"] != second_quick.headers["webhook-id"]

        requests = await hanging.wait_for(3, timeout=30)  # the cut first attempt is retried; both events arrive
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            items = await deliveries(client, tenant, slow_endpoint["id"])
            if len(items) == 2 and all(item["status"] == "delivered" for item in items):
                break
            await asyncio.sleep(0.2)
        cut = [a for item in items for a in item["attempts"] if a["status_code"] is None]
        assert len(cut) == 1, items
        assert 9_500 <= cut[0]["duration_ms"] <= 12_000 and "10 s" in cut[0]["error"]
        assert requests[0].headers["webhook-id"] in {r.headers["webhook-id"] for r in requests[1:]}
        assert len(await deliveries(client, tenant, quick_endpoint["id"])) == 2
    finally:
        await hanging.stop()
        await quick.stop()


async def test_an_endpoint_only_ever_gets_its_own_tenants_events_and_ids_of_others_are_404(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, cipher: Cipher, receiver: Receiver
) -> None:
    other = await make_tenant(engine, cipher)
    other_receiver = await Receiver().start()
    try:
        mine = await add_endpoint(client, tenant, receiver.url, events=["*"])
        theirs = await add_endpoint(client, other, other_receiver.url, events=["*"])
        tx = await paid(client, other)
        await other_receiver.wait_for(2)  # created and completed
        await asyncio.sleep(1.5)
        assert receiver.requests == []
        assert {r.event["tenantid"] for r in other_receiver.requests} == {str(other.tenant_id)}
        assert {r.event["subject"] for r in other_receiver.requests} == {tx["id"]}

        base = f"/v1/webhook-endpoints/{theirs['id']}"
        delivery_id = (await deliveries(client, other, theirs["id"]))[0]["id"]
        for method, path in [
            ("GET", base),
            ("PATCH", base),
            ("DELETE", base),
            ("POST", f"{base}/rotate-secret"),
            ("GET", f"{base}/deliveries"),
            ("POST", f"{base}/deliveries/{delivery_id}/retry"),
            ("POST", f"/v1/webhook-endpoints/{mine['id']}/deliveries/{delivery_id}/retry"),
        ]:
            body = {"enabled": False} if method == "PATCH" else None
            response = await client.request(method, path, json=body, headers=tenant.auth)
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        still = (await client.get(base, headers=other.auth)).json()
        assert still == {k: v for k, v in theirs.items() if k != "secret"}
    finally:
        await other_receiver.stop()


async def test_after_rotation_both_secrets_sign_every_delivery(
    client: httpx.AsyncClient, tenant: TenantWorld, receiver: Receiver
) -> None:
    endpoint = await add_endpoint(client, tenant, receiver.url)
    rotated = await client.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=tenant.auth)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]
    await paid(client, tenant)
    (request,) = await receiver.wait_for(1)
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (endpoint["secret"], new_secret):
        Webhook(secret).verify(request.body, request.headers)
        alone = {**request.headers, "webhook-signature": signatures[0 if secret == new_secret else 1]}
        Webhook(secret).verify(request.body, alone)


async def test_410_gone_disables_the_endpoint_and_says_so_on_billing_events(
    client: httpx.AsyncClient, tenant: TenantWorld, events: EventLog
) -> None:
    receiver = await Receiver(then=Answer(410)).start()
    try:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        await paid(client, tenant)
        failed = await settled(client, tenant, endpoint["id"], "failed")
        assert [a["status_code"] for a in failed["attempts"]] == [410]
        shown = (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.auth)).json()
        assert shown["enabled"] is False
        disabled = await events.wait_for(endpoint["id"], "webhook_endpoint.disabled")
        assert disabled.body["tenantid"] == str(tenant.tenant_id) and disabled.body["data"]["reason"] == "gone"
        await paid(client, tenant)
        await asyncio.sleep(1.5)
        assert len(receiver.requests) == 1, "a disabled endpoint gets nothing"

        receiver.then = Answer(200)
        enabled = await client.patch(
            f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=tenant.auth
        )
        assert enabled.status_code == 200 and enabled.json()["enabled"] is True
        await paid(client, tenant)
        await receiver.wait_for(2)
    finally:
        await receiver.stop()


async def test_an_endpoint_failing_every_attempt_for_five_days_is_disabled(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, events: EventLog
) -> None:
    receiver = await Receiver(then=Answer(500)).start()
    try:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        await paid(client, tenant)
        await receiver.wait_for(1)
        async with engine.begin() as conn:  # as if its attempts had failed since six days ago
            await conn.execute(
                text("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = :id"),
                {"id": uuid.UUID(endpoint["id"])},
            )
        disabled = await events.wait_for(endpoint["id"], "webhook_endpoint.disabled")
        assert disabled.body["data"]["reason"] == "failing_for_days"
        shown = (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.auth)).json()
        assert shown["enabled"] is False
    finally:
        await receiver.stop()


async def test_bad_input_is_refused_with_problem_json_and_changes_nothing(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, cipher: Cipher, receiver: Receiver
) -> None:
    bad_bodies: list[Any] = [
        {"url": receiver.url, "events": []},
        {"url": receiver.url, "events": ["transaction.paid"]},
        {"url": receiver.url, "events": ["*", COMPLETED]},
        {"events": [COMPLETED]},
        {"url": receiver.url},
        {"url": receiver.url, "events": [COMPLETED], "secret": "whsec_mine"},
        {"url": "ftp://example.com/hook", "events": [COMPLETED]},
        {"url": "not a url", "events": [COMPLETED]},
        {"url": f"{receiver.url}#token", "events": [COMPLETED]},
    ]
    for body in bad_bodies:
        response = await client.post("/v1/webhook-endpoints", json=body, headers=tenant.auth)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/webhook-endpoints", headers=tenant.auth)).json() == {"items": []}

    endpoint = await add_endpoint(client, tenant, receiver.url)
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    for patch in [{"url": None}, {"events": ["nope"]}, {"enabled": "maybe"}, {"url": "gopher://x"}, {"other": 1}]:
        response = await client.patch(path, json=patch, headers=tenant.auth)
        assert response.status_code == 422, (patch, response.text)
    assert (await client.get(path, headers=tenant.auth)).json() == {k: v for k, v in endpoint.items() if k != "secret"}

    changed = await client.patch(
        path, json={"events": ["refund.succeeded", COMPLETED], "description": "ledger"}, headers=tenant.auth
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["refund.succeeded", COMPLETED] and changed.json()["description"] == "ledger"
    missing = await client.post(f"{path}/deliveries/{uuid.uuid4()}/retry", headers=tenant.auth)
    assert missing.status_code == 404
    viewer = await make_tenant(engine, cipher, permissions=[Permission.VIEW])
    assert (await client.get("/v1/webhook-endpoints", headers=viewer.auth)).status_code == 403
    assert (await client.delete(path, headers=tenant.auth)).status_code == 204
    assert (await client.get(path, headers=tenant.auth)).status_code == 404

    # A query is the merchant's own (a token of theirs, say): kept, and posted to as it is.
    with_query = await client.post(
        "/v1/webhook-endpoints", json={"url": f"{receiver.url}?token=1", "events": [COMPLETED]}, headers=tenant.auth
    )
    assert with_query.status_code == 201, with_query.text
    assert with_query.json()["url"] == f"{receiver.url}?token=1"


async def test_a_private_url_is_refused_without_the_setting(
    system: System, tenant: TenantWorld, receiver: Receiver
) -> None:
    port = free_port()
    env = {
        **system.env,
        "BILLING_HTTP_PORT": str(port),
        "BILLING_METRICS_PORT_INGRESS": str(free_port()),
        "BILLING_WEBHOOKS_ALLOW_PRIVATE": "false",
    }
    strict = System(env=env, port=port)
    strict.start("ingress")
    try:
        strict.wait_ready()
        async with httpx.AsyncClient(base_url=strict.base_url, timeout=20) as http:
            for url in [receiver.url, "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://169.254.169.254/x"]:
                response = await http.post(
                    "/v1/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=tenant.auth
                )
                assert response.status_code == 422, (url, response.text)
                assert response.json()["code"] == "unsafe_webhook_url"
            assert (await http.get("/v1/webhook-endpoints", headers=tenant.auth)).json() == {"items": []}
    finally:
        strict.stop_all()
