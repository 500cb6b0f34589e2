"""`billing` commands against a database or broker that is not ready: one line on stderr, never a traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from shared.persistence.database import create_database_if_missing
from tests.conftest import Servers, drop_database, drop_vhost, new_vhost

TENANT = "00000000-0000-0000-0000-000000000000"
COMMANDS = (
    ("tenant", "create", "--name", "acme"),
    ("apikey", "create", "--tenant", TENANT, "--permission", "billing.view"),
    ("gateway", "add", "--tenant", TENANT, "--gateway", "cash", "--config-json", "{}"),
)


def billing(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def empty_database(servers: Servers) -> Iterator[str]:
    """A database that exists but has never been migrated."""
    url = f"{servers.pg_server}/billing_test_empty_{uuid.uuid4().hex[:10]}"
    asyncio.run(create_database_if_missing(url))
    yield url
    drop_database(url)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_missing_database_is_one_line_naming_billing_migrate(servers: Servers, args: tuple[str, ...]) -> None:
    missing = f"{servers.pg_server}/billing_test_missing_{uuid.uuid4().hex[:10]}"
    done = billing({"BILLING_DATABASE_URL": missing}, *args)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["billing: the database does not exist yet: run `billing migrate` first"]
    assert done.stdout == ""


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_database_without_schema_is_one_line_naming_billing_migrate(
    empty_database: str, args: tuple[str, ...]
) -> None:
    done = billing({"BILLING_DATABASE_URL": empty_database}, *args)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["billing: the database has no schema yet: run `billing migrate` first"]


def test_an_unreachable_database_is_one_line() -> None:
    done = billing({"BILLING_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/billing"}, *COMMANDS[0])
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("billing: cannot reach PostgreSQL or RabbitMQ"), done.stderr


def test_parked_messages_on_a_broker_the_service_never_used_are_none(servers: Servers) -> None:
    fresh = new_vhost(servers)
    if fresh.endswith("/"):
        pytest.skip("rabbitmqctl is not at hand to make a fresh vhost")
    try:
        listed = billing({"BILLING_AMQP_URL": fresh}, "dlq", "list")
        replayed = billing({"BILLING_AMQP_URL": fresh}, "dlq", "replay", "--all")
    finally:
        drop_vhost(fresh)
    assert (listed.returncode, listed.stdout.strip(), listed.stderr) == (0, '{"items": []}', "")
    assert (replayed.returncode, replayed.stdout.strip(), replayed.stderr) == (0, '{"replayed": []}', "")
