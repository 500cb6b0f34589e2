"""End-to-end fixtures: the services as processes, a client, an event listener."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.support.events import EventLog
from tests.support.system import System, free_port, service_env
from tests.support.world import TenantWorld, make_tenant


@pytest.fixture(scope="session")
def system(settings: Settings) -> Iterator[System]:
    port = free_port()
    running = System(env=service_env(settings, port), port=port)
    running.start_all()
    yield running
    running.stop_all()


@pytest.fixture(scope="session")
async def events(system: System, settings: Settings) -> AsyncIterator[EventLog]:
    log = EventLog()
    await log.start(settings.amqp_url)
    yield log
    await log.close()


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.base_url, timeout=20) as http:
        yield http


@pytest.fixture
async def tenant(engine: AsyncEngine, cipher: Cipher) -> TenantWorld:
    return await make_tenant(engine, cipher)
