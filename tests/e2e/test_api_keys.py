"""API keys through the API and the CLI: issued once, listed without secrets, revoked everywhere, expired."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.persistence.tables import api_keys
from shared.security.apikeys import Permission
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.support.system import System, free_port, service_env
from tests.support.world import TenantWorld, make_tenant

REVOCATION_BOUND_S = 5.0


@pytest.fixture(scope="module")
def second_ingress(system: System, settings: Settings) -> Iterator[System]:
    """Another ingress replica on the same database and broker, as a second pod would be."""
    port = free_port()
    replica = System(env=service_env(settings, port), port=port)
    replica.start("ingress")
    try:
        replica.wait_ready()
        yield replica
    finally:
        replica.stop_all()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _issue(client: httpx.AsyncClient, world: TenantWorld, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/api-keys", json=body, headers=world.auth)
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


async def test_a_key_is_shown_once_and_holds_only_its_permissions(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    issued = await _issue(client, tenant, name="reporting", permissions=["billing.view"])
    assert {"id", "name", "key", "permissions", "created_at", "expires_at"} <= set(issued)
    assert issued["name"] == "reporting" and issued["permissions"] == ["billing.view"]
    assert issued["expires_at"] is None and issued["key"].startswith("bk_")
    reader = _bearer(issued["key"])
    assert (await client.get("/v1/transactions", headers=reader)).status_code == 200
    body = {"gateway": "cash", "amount": 100, "currency": "UZS"}
    refused = await client.post("/v1/transactions", json=body, headers={**reader, "Idempotency-Key": "k1"})
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert (await client.get("/v1/api-keys", headers=reader)).status_code == 403

    listed = (await client.get("/v1/api-keys", headers=tenant.auth)).json()["items"]
    mine = next(item for item in listed if item["id"] == issued["id"])
    assert "key" not in mine and mine["name"] == "reporting"
    assert mine["last_used_at"] is not None  # used above
    assert all(issued["key"] not in json.dumps(item) for item in listed)


async def test_a_key_cannot_grant_what_it_does_not_hold(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    manager = await make_tenant(engine, cipher, permissions=[Permission.GATEWAYS_MANAGE, Permission.VIEW])
    wider = await client.post(
        "/v1/api-keys", json={"permissions": ["billing.view", "billing.refund"]}, headers=manager.auth
    )
    assert wider.status_code == 403 and "billing.refund" in wider.json()["detail"]
    narrower = await _issue(client, manager, permissions=["billing.view"])
    assert narrower["name"] is None
    unknown = await client.post("/v1/api-keys", json={"permissions": ["billing.everything"]}, headers=manager.auth)
    assert unknown.status_code == 422
    past = (utc_now() - timedelta(minutes=1)).isoformat()
    stale = await client.post(
        "/v1/api-keys", json={"permissions": ["billing.view"], "expires_at": past}, headers=manager.auth
    )
    assert stale.status_code == 422 and "expires_at" in stale.json()["detail"]
    items = (await client.get("/v1/api-keys", headers=manager.auth)).json()["items"]
    assert len(items) == 2  # the manager's own key and the narrower one; the refused ones were never stored


async def test_a_key_revoked_through_one_replica_is_refused_by_another_within_5s(
    client: httpx.AsyncClient, tenant: TenantWorld, second_ingress: System
) -> None:
    issued = await _issue(client, tenant, permissions=["billing.view"])
    reader = _bearer(issued["key"])
    async with httpx.AsyncClient(base_url=second_ingress.base_url, timeout=10) as other:
        assert (await other.get("/v1/transactions", headers=reader)).status_code == 200  # now in its cache
        revoked = await client.delete(f"/v1/api-keys/{issued['id']}", headers=tenant.auth)
        assert revoked.status_code == 204
        started = time.monotonic()
        here = await client.get("/v1/transactions", headers=reader)
        assert here.status_code == 401 and here.json()["code"] == "invalid_api_key"
        while (await other.get("/v1/transactions", headers=reader)).status_code == 200:
            assert time.monotonic() - started < REVOCATION_BOUND_S, "the second replica still accepts the key"
            await asyncio.sleep(0.2)
        assert (await other.get("/v1/transactions", headers=reader)).status_code == 401
    again = await client.delete(f"/v1/api-keys/{issued['id']}", headers=tenant.auth)
    assert again.status_code == 404
    listed = (await client.get("/v1/api-keys", headers=tenant.auth)).json()["items"]
    assert issued["id"] not in {item["id"] for item in listed}


async def test_another_tenants_key_cannot_be_revoked(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine, cipher: Cipher
) -> None:
    stranger = await make_tenant(engine, cipher)
    theirs = await _issue(client, stranger, permissions=["billing.view"])
    refused = await client.delete(f"/v1/api-keys/{theirs['id']}", headers=tenant.auth)
    assert refused.status_code == 404 and refused.json()["code"] == "api_key_not_found"
    assert (await client.get("/v1/transactions", headers=_bearer(theirs["key"]))).status_code == 200


async def test_an_expired_key_gets_401_and_last_use_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine
) -> None:
    expires = utc_now() + timedelta(seconds=4)
    issued = await _issue(client, tenant, permissions=["billing.view"], expires_at=expires.isoformat())
    assert issued["expires_at"] is not None
    reader = _bearer(issued["key"])
    assert (await client.get("/v1/transactions", headers=reader)).status_code == 200
    first_use = await _last_used(engine, issued["id"])
    assert first_use is not None
    while utc_now() < expires:
        await asyncio.sleep(0.5)
    expired = await client.get("/v1/transactions", headers=reader)
    assert expired.status_code == 401 and expired.json()["code"] == "api_key_expired"
    assert await _last_used(engine, issued["id"]) == first_use  # re-read after the cache, not rewritten


async def _last_used(engine: AsyncEngine, key_id: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(api_keys.c.last_used_at).where(api_keys.c.id == uuid.UUID(key_id)))).scalar()


def _billing(system: System, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args], env=system.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_the_cli_lists_and_revokes_keys(client: httpx.AsyncClient, tenant: TenantWorld, system: System) -> None:
    issued = await _issue(client, tenant, name="cli", permissions=["billing.view"])
    listed = _billing(system, "apikey", "list", "--tenant", str(tenant.tenant_id))
    assert issued["id"] in {item["id"] for item in listed["items"]}
    assert issued["key"] not in json.dumps(listed)
    revoked = _billing(system, "apikey", "revoke", "--id", issued["id"])
    assert revoked["id"] == issued["id"] and revoked["revoked"] is True
    started = time.monotonic()
    while (await client.get("/v1/transactions", headers=_bearer(issued["key"]))).status_code == 200:
        assert time.monotonic() - started < REVOCATION_BOUND_S
        await asyncio.sleep(0.2)
    again = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "apikey", "revoke", "--id", issued["id"]],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0 and "no live API key" in again.stderr and again.stdout == ""


async def test_the_cli_names_a_key_and_gives_it_an_expiry(
    client: httpx.AsyncClient, tenant: TenantWorld, system: System
) -> None:
    expires = (utc_now() + timedelta(seconds=3)).replace(microsecond=0) + timedelta(seconds=1)
    issued = _billing(
        system,
        "apikey",
        "create",
        "--tenant",
        str(tenant.tenant_id),
        "--permission",
        "billing.view",
        "--name",
        "nightly export",
        "--expires-at",
        expires.isoformat().replace("+00:00", "Z"),
    )
    assert issued["name"] == "nightly export" and issued["expires_at"] == expires.isoformat().replace("+00:00", "Z")
    listed = {item["id"]: item for item in (await client.get("/v1/api-keys", headers=tenant.auth)).json()["items"]}
    assert listed[issued["id"]]["name"] == "nightly export"
    assert listed[issued["id"]]["expires_at"] == issued["expires_at"]
    assert (await client.get("/v1/transactions", headers=_bearer(issued["key"]))).status_code == 200
    while utc_now() < expires:
        await asyncio.sleep(0.5)
    refused = await client.get("/v1/transactions", headers=_bearer(issued["key"]))
    assert refused.status_code == 401 and refused.json()["code"] == "api_key_expired"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--expires-at", "2020-01-01T00:00:00Z"), "--expires-at must be in the future"),
        (
            ("--expires-at", "2099-01-01T00:00:00"),
            "--expires-at needs a UTC offset (Z or +05:00): '2099-01-01T00:00:00'",
        ),
        (
            ("--expires-at", "next week"),
            "--expires-at must be an ISO 8601 time such as 2027-01-31T00:00:00Z, not 'next week'",
        ),
        (("--name", "  "), "--name must be 1 to 200 characters"),
    ],
)
def test_the_cli_refuses_a_bad_name_or_expiry_in_one_line_and_makes_no_key(
    tenant: TenantWorld, system: System, args: tuple[str, ...], message: str
) -> None:
    command = ("apikey", "create", "--tenant", str(tenant.tenant_id), "--permission", "billing.view", *args)
    before = _billing(system, "apikey", "list", "--tenant", str(tenant.tenant_id))["items"]
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *command], env=system.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"billing: {message}"]
    assert _billing(system, "apikey", "list", "--tenant", str(tenant.tenant_id))["items"] == before
