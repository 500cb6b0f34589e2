"""BILLING_SECRET_KEY with several keys: the first seals, all open; `billing secrets rotate` moves every
credential to the first key, after which the older key can be dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.database import create_engine
from shared.persistence.tables import gateway_accounts
from shared.security.cipher import Cipher, CredentialsUnreadable
from shared.settings import Settings
from tests.conftest import Servers, drop_database, new_database
from tests.support.system import System, free_port, service_env
from tests.support.world import INTEGRATOR_SECRET, make_tenant

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def own_database(servers: Servers) -> Iterator[str]:
    """A database of its own: rotating the session database's key would lock the other tests out."""
    url = new_database(servers)
    yield url
    drop_database(url)


@pytest.fixture
async def own_engine(own_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_database, pool_size=2)
    yield engine
    await engine.dispose()


def billing(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _accounts_line(env: dict[str, str]) -> str:
    done = billing(env, "doctor")
    return next(line for line in done.stdout.splitlines() if "accounts" in line.split()[1:2])


async def _tokens(engine: AsyncEngine) -> list[bytes]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(gateway_accounts.c.secret_config))).scalars())


async def test_rotation_with_two_keys_then_one(own_database: str, own_engine: AsyncEngine, settings: Settings) -> None:
    old = Cipher(OLD_KEY)
    world = await make_tenant(own_engine, old)
    await make_tenant(own_engine, old, configs={"integrator": {"secret": "s" * 20, "name": "second"}})
    async with own_engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(gateway_accounts))).scalar_one()
    assert total == 3

    env = {"BILLING_DATABASE_URL": own_database, "BILLING_AMQP_URL": settings.amqp_url}
    both = {**env, "BILLING_SECRET_KEY": f"{NEW_KEY},{OLD_KEY}"}
    assert "3 still under an older key" in _accounts_line(both)

    rotated = billing(both, "secrets", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout) == {"reencrypted": 3}

    new_only = Cipher(NEW_KEY)
    opened = [new_only.open(token) for token in await _tokens(own_engine)]
    assert sorted(config.get("secret", "") for config in opened) == ["", INTEGRATOR_SECRET, "s" * 20]
    for token in await _tokens(own_engine):
        with pytest.raises(CredentialsUnreadable):
            old.open(token)
    assert "0 under an older key" in _accounts_line({**env, "BILLING_SECRET_KEY": NEW_KEY})

    # An ingress with the new key alone serves the accounts: it opens their credentials to answer.
    port = free_port()
    ingress = System(env={**service_env(settings, port), **env, "BILLING_SECRET_KEY": NEW_KEY}, port=port)
    ingress.start("ingress")
    try:
        ingress.wait_ready()
        async with httpx.AsyncClient(base_url=ingress.base_url, timeout=10) as client:
            account = world.accounts["integrator"]
            answer = await client.get(f"/v1/gateway-accounts/{account}", headers=world.auth)
            assert answer.status_code == 200, answer.text
            assert answer.json()["secrets_set"] == ["secret"]
    finally:
        ingress.stop_all()


def test_a_secret_key_that_is_not_a_list_of_fernet_keys_is_one_line(settings: Settings) -> None:
    env = {"BILLING_DATABASE_URL": settings.database_url, "BILLING_SECRET_KEY": f"{NEW_KEY},not-a-key"}
    done = billing(env, "secrets", "rotate")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines()[0].startswith("billing: BILLING_SECRET_KEY: must be one or more")
