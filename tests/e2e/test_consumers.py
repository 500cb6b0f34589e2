"""The finance and projects consumers, fed by the real events of a real payment's life."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from examples.consumers.finance import FinanceLedger
from examples.consumers.projects import ProjectStages
from examples.consumers.runner import consume
from shared.settings import Settings
from tests.support.http import create, until
from tests.support.world import TenantWorld


@pytest.fixture
async def consumers(settings: Settings, tenant: TenantWorld) -> AsyncIterator[tuple[FinanceLedger, ProjectStages]]:
    ledger, stages = FinanceLedger(str(tenant.tenant_id)), ProjectStages(str(tenant.tenant_id))
    stop = asyncio.Event()
    suffix = uuid.uuid4().hex[:8]
    tasks = [
        asyncio.create_task(consume(settings.amqp_url, f"test.finance.{suffix}", ledger.apply, stop)),
        asyncio.create_task(consume(settings.amqp_url, f"test.projects.{suffix}", stages.apply, stop)),
    ]
    await asyncio.sleep(0.5)  # both queues bound before the first event
    yield ledger, stages
    stop.set()
    for task in tasks:
        with contextlib.suppress(Exception):
            await task


async def _eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the consumers never caught up"
        await asyncio.sleep(0.1)


async def test_finance_and_projects_follow_a_payment(
    client: httpx.AsyncClient, tenant: TenantWorld, consumers: tuple[FinanceLedger, ProjectStages]
) -> None:
    ledger, stages = consumers
    stage = f"stage-{uuid.uuid4().hex[:6]}"
    tx = await create(client, tenant, amount=200_000, currency="UZS", metadata={"project_id": "p", "stage_id": stage})
    await client.post(f"/v1/transactions/{tx['id']}/complete", json={}, headers=tenant.auth)
    await _eventually(lambda: stages.is_paid(stage))
    assert stages.paid_by(stage) == tx["id"]
    await _eventually(lambda: "UZS" in ledger.totals() and ledger.totals()["UZS"]["in"] == 200_000)

    await client.post(f"/v1/transactions/{tx['id']}/refunds", json={"amount": 50_000}, headers=tenant.auth)
    await until(client, tenant, tx["id"], "partially_refunded")
    await _eventually(lambda: ledger.totals()["UZS"]["out"] == 50_000)
    assert stages.is_paid(stage), "a partial refund keeps the stage paid"

    await client.post(f"/v1/transactions/{tx['id']}/refunds", json={}, headers=tenant.auth)
    await until(client, tenant, tx["id"], "refunded")
    await _eventually(lambda: not stages.is_paid(stage))
    await _eventually(lambda: ledger.totals()["UZS"] == {"in": 200_000, "out": 200_000, "net": 0})
