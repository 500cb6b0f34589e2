"""Per-key token buckets: a burst past the limit gets 429 with Retry-After; other keys and gateways never notice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.support.payme import Payme, payme_id, payme_tenant
from tests.support.system import System, free_port, service_env
from tests.support.world import TenantWorld, make_tenant

RATE = 2
BURST = 5


@pytest.fixture(scope="module")
def limited_ingress(system: System, settings: Settings) -> Iterator[System]:
    """An ingress replica with a small bucket, so a burst is a handful of requests."""
    port = free_port()
    env = {**service_env(settings, port), "BILLING_RATE_LIMIT_RPS": str(RATE), "BILLING_RATE_LIMIT_BURST": str(BURST)}
    replica = System(env=env, port=port)
    replica.start("ingress")
    try:
        replica.wait_ready()
        yield replica
    finally:
        replica.stop_all()


@pytest.fixture
async def limited(limited_ingress: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_ingress.base_url, timeout=20) as http:
        yield http


async def test_a_burst_past_the_bucket_gets_429_while_another_key_is_unaffected(
    limited: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, cipher: Cipher
) -> None:
    other = await make_tenant(engine, cipher)
    answers = await asyncio.gather(*(limited.get("/v1/transactions", headers=tenant.auth) for _ in range(BURST + 4)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(200) == BURST and statuses.count(429) == 4, statuses
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited" and refused.json()["status"] == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Limit"] == str(BURST) and refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= 1

    fine = await limited.get("/v1/transactions", headers=other.auth)  # another key's bucket is full
    assert fine.status_code == 200
    assert fine.headers["RateLimit-Limit"] == str(BURST)
    assert fine.headers["RateLimit-Remaining"] == str(BURST - 1)

    await asyncio.sleep(int(refused.headers["Retry-After"]))
    assert (await limited.get("/v1/transactions", headers=tenant.auth)).status_code == 200


async def test_gateway_webhooks_and_health_are_never_limited(
    limited: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    world = await payme_tenant(engine, cipher)
    payme = Payme(limited, world.accounts["payme"])
    for _ in range(BURST * 4):  # Payme.send asserts HTTP 200 with a JSON-RPC answer every time
        answer = await payme.send("CheckPerformTransaction", {"amount": 100, "account": {"order_id": payme_id()}})
        assert "error" in answer  # no such order: Payme's own answer, not a rate limit
    probes = await asyncio.gather(*(limited.get("/health/live") for _ in range(BURST * 4)))
    assert {probe.status_code for probe in probes} == {200}
    assert "RateLimit-Limit" not in probes[0].headers
