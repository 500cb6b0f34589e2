"""Real PostgreSQL and RabbitMQ for the suite: from the environment, else the local ones, else testcontainers.

Each session gets its own database and RabbitMQ vhost, so runs never see each other's rows or queues.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.database import create_database_if_missing, create_engine, raw_dsn, upgrade
from shared.security.cipher import Cipher
from shared.security.egress import ALLOW_PRIVATE_PROVIDERS_ENV
from shared.settings import Settings
from tests.support.installed import ensure_gateways_installed


def pytest_configure(config: pytest.Config) -> None:
    ensure_gateways_installed()


# The suite's fake providers listen on 127.0.0.1 over http: the operator's setting for sandboxes and tests admits
# them, for configs validated here and (through service_env) in the services. Tests of the refusals unset it.
os.environ[ALLOW_PRIVATE_PROVIDERS_ENV] = "true"


@dataclass(frozen=True)
class Servers:
    pg_server: str  # postgresql+asyncpg://user@host:port (no database)
    amqp_server: str  # amqp://user:pass@host:port (no vhost)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    pg = os.environ.get("BILLING_TEST_PG_SERVER")
    amqp = os.environ.get("BILLING_TEST_AMQP_SERVER")
    containers: list[Any] = []
    if pg is None:
        if _reachable("127.0.0.1", 5432):
            pg = "postgresql+asyncpg://postgres@127.0.0.1:5432"
        else:  # pragma: no cover - only where Docker runs
            from testcontainers.postgres import PostgresContainer

            container = PostgresContainer("postgres:16", driver="asyncpg").start()
            containers.append(container)
            pg = container.get_connection_url().rsplit("/", 1)[0]
    if amqp is None:
        if _reachable("127.0.0.1", 5672):
            amqp = "amqp://guest:guest@127.0.0.1:5672"
        else:  # pragma: no cover - only where Docker runs
            from testcontainers.rabbitmq import RabbitMqContainer

            rabbit = RabbitMqContainer("rabbitmq:3.13").start()
            containers.append(rabbit)
            amqp = f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}"
    yield Servers(pg, amqp.rstrip("/"))
    for running in containers:  # pragma: no cover
        running.stop()


def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60).returncode == 0


def new_vhost(servers: Servers) -> str:
    """A fresh vhost when rabbitmqctl is at hand; otherwise the default one (queues are then shared)."""
    name = f"billing_test_{uuid.uuid4().hex[:10]}"
    if _rabbitmqctl("add_vhost", name) and _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*"):
        return f"{servers.amqp_server}/{name}"
    return f"{servers.amqp_server}/"


def drop_vhost(url: str) -> None:
    vhost = url.rsplit("/", 1)[1]
    if vhost:
        _rabbitmqctl("delete_vhost", vhost)


def new_database(servers: Servers) -> str:
    url = f"{servers.pg_server}/billing_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(create_database_if_missing(url))
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    import asyncpg

    async def drop() -> None:
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(raw_dsn(url, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def database_url(servers: Servers) -> Iterator[str]:
    url = new_database(servers)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def amqp_url(servers: Servers) -> Iterator[str]:
    url = new_vhost(servers)
    yield url
    drop_vhost(url)


@pytest.fixture(scope="session")
def settings(database_url: str, amqp_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        amqp_url=amqp_url,
        secret_key=Fernet.generate_key().decode(),
        retry_delay_ms=200,
        max_attempts=3,
        scheduler_interval_s=0.5,
        db_pool_size=10,
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The session database, for tests that arrange or inspect rows directly."""
    engine = create_engine(settings.database_url, pool_size=12)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def cipher(settings: Settings) -> Cipher:
    return Cipher(settings.secret_key or "")
