"""In-process fixtures on the real PostgreSQL and RabbitMQ: engine, unit of work, publisher, an isolated vhost."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.broker.publisher import ConfirmedPublisher
from shared.broker.topology import declare
from shared.gateways.registry import GatewayRegistry
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_vhost, new_vhost
from tests.support.world import TenantWorld, make_tenant

UowFactory = Callable[[], UnitOfWork]


@pytest.fixture(scope="session")
def uow_factory(engine: AsyncEngine, cipher: Cipher) -> UowFactory:
    return functools.partial(UnitOfWork, engine, cipher)


@pytest.fixture(scope="session")
def registry() -> GatewayRegistry:
    return GatewayRegistry.load()


@pytest.fixture
async def tenant(engine: AsyncEngine, cipher: Cipher) -> TenantWorld:
    """A fresh tenant with one cash and one integrator account."""
    return await make_tenant(engine, cipher)


@dataclass(frozen=True)
class Broker:
    """A vhost of its own, topology declared, with a started confirmed publisher.

    Workers started by the e2e fixtures share the session vhost and consume billing.processor there,
    so tests that look at queue contents use this instead.
    """

    url: str
    publisher: ConfirmedPublisher
    retry_delay_ms: int


@pytest.fixture(scope="module")
async def broker(servers: Servers, settings: Settings) -> AsyncIterator[Broker]:
    url = await asyncio.to_thread(new_vhost, servers)
    await declare(url, settings.retry_delay_ms)
    publisher = ConfirmedPublisher(url)
    await publisher.start()
    yield Broker(url, publisher, settings.retry_delay_ms)
    await publisher.close()
    await asyncio.to_thread(drop_vhost, url)
