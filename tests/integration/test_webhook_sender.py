"""The sender against real HTTP servers on 127.0.0.1: the egress guard at connect time, the 1 KiB read cap."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from standardwebhooks import Webhook

from services.webhooks.sender import Sender
from shared.domain.webhooks import EXCERPT_BYTES, Verdict, new_secret
from shared.persistence.webhooks import ClaimedDelivery
from shared.security.egress import guarded_client
from tests.support.receiver import Receiver
from tests.support.system import free_port


def delivery(url: str, secret: str) -> ClaimedDelivery:
    event_id = uuid.uuid4()
    return ClaimedDelivery(
        id=uuid.uuid4(),
        endpoint_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        event_id=event_id,
        body=f'{{"id": "{event_id}", "type": "billing.transaction.completed"}}',
        attempt_count=0,
        url=url,
        secrets=[secret],
    )


@pytest.fixture
async def endless() -> AsyncIterator[str]:
    """A server that answers 200 and then streams its body forever."""

    async def forever(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        while True:
            await response.write(b"y" * 4096)
            await asyncio.sleep(0.01)

    app = web.Application()
    app.router.add_post("/hook", forever)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def test_without_the_setting_a_private_address_is_refused_when_connecting() -> None:
    receiver = await Receiver().start()
    try:
        async with guarded_client(allow_private=False) as client:
            attempt, verdict = await Sender(client).send(delivery(receiver.url, new_secret()))
        assert verdict is Verdict.RETRY and attempt.status_code is None
        assert attempt.error is not None and "not a public address" in attempt.error
        assert receiver.requests == [], "nothing reached the private address"
    finally:
        await receiver.stop()


async def test_an_endless_answer_is_read_only_up_to_1_kib_and_a_2xx_delivers(endless: str) -> None:
    secret = new_secret()
    sent = delivery(endless, secret)
    async with guarded_client(allow_private=True) as client:
        started = time.monotonic()
        attempt, verdict = await Sender(client).send(sent)
    assert time.monotonic() - started < 5
    assert verdict is Verdict.DELIVERED and attempt.status_code == 200 and attempt.error is None
    assert attempt.response_excerpt == "y" * EXCERPT_BYTES


async def test_the_request_is_signed_for_its_event_id() -> None:
    receiver = await Receiver().start()
    try:
        secret = new_secret()
        sent = delivery(receiver.url, secret)
        async with guarded_client(allow_private=True) as client:
            attempt, verdict = await Sender(client).send(sent)
        assert verdict is Verdict.DELIVERED and attempt.response_excerpt == "ok"
        (request,) = receiver.requests
        assert request.headers["webhook-id"] == str(sent.event_id)
        assert Webhook(secret).verify(request.body, request.headers)["id"] == str(sent.event_id)
    finally:
        await receiver.stop()
