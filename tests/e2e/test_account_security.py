"""Gateway accounts through the API (contract: Security): URLs refused, secrets kept from new hosts, safe links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.registry import GatewayRegistry
from shared.gateways.urls import url_fields
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.support.fakes.octo import FakeOcto
from tests.support.http import create, until
from tests.support.system import System, free_port, service_env
from tests.support.world import INTEGRATOR_SECRET, TenantWorld, make_tenant
from tests.unit.test_gateway_config_urls import REFUSED_HOSTS, REQUIRED_KEYS, url_for


@pytest.fixture
def octo() -> Iterator[FakeOcto]:
    fake = FakeOcto().start()
    yield fake
    fake.stop()


@pytest.fixture
def elsewhere() -> Iterator[FakeOcto]:
    """Another host, the one a PATCH points the account at: it records whatever it receives."""
    fake = FakeOcto().start()
    yield fake
    fake.stop()


async def post_tx(client: httpx.AsyncClient, world: TenantWorld, gateway: str) -> str:
    body = {"gateway": gateway, "account_id": str(world.accounts[gateway]), "amount": 150_000, "currency": "UZS"}
    answer = await client.post(
        "/v1/transactions", json=body, headers={**world.auth, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert answer.status_code == 202, answer.text
    tx_id: str = answer.json()["id"]
    return tx_id


async def test_a_url_change_without_the_secrets_is_refused_and_they_never_reach_the_new_host(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, elsewhere: FakeOcto, system: System
) -> None:
    world = await make_tenant(engine, cipher, configs={"octo": octo.account_config()})
    account = f"/v1/gateway-accounts/{world.accounts['octo']}"

    moved = await client.patch(account, json={"config": {"api_base": elsewhere.url}}, headers=world.auth)

    assert moved.status_code == 422, moved.text
    problem = moved.json()
    assert problem["code"] == "invalid_gateway_config"
    assert "api_base" in problem["detail"] and "secret, unique_key" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["secret", "unique_key"]
    assert (await client.get(account, headers=world.auth)).json()["config"]["api_base"] == octo.url
    first = await create(client, world, gateway="octo")
    assert first["payment_url"] and octo.calls("/prepare_payment", shop_transaction_id=first["id"])
    assert elsewhere.requests == [], "the account still calls its own host"

    # Half the secrets are not enough either.
    half = {"api_base": elsewhere.url, "secret": "new-octo-secret"}
    assert (await client.patch(account, json={"config": half}, headers=world.auth)).status_code == 422
    # The same URL again is no change: nothing more is asked for.
    same = await client.patch(account, json={"config": {"api_base": octo.url, "test": True}}, headers=world.auth)
    assert same.status_code == 200, same.text

    moved_with_secrets = {"api_base": elsewhere.url, "secret": "new-octo-secret", "unique_key": "new-unique-key"}
    assert (await client.patch(account, json={"config": moved_with_secrets}, headers=world.auth)).status_code == 200
    second = await post_tx(client, world, "octo")
    failed = await until(client, world, second, "failed")

    assert elsewhere.requests, "the moved account calls the new host"
    assert all(r.body.get("octo_secret") == "new-octo-secret" for r in elsewhere.requests)
    assert octo.secret not in str([r.body for r in elsewhere.requests])
    # The new host refused with its own words ("wrong shop id or secret"): the tenant sees the code only.
    assert failed["details"]["error_note"] == "octo refused: error 2"


@pytest.mark.parametrize(
    ("field", "value"),
    [("return_url", "https://shop.example.com/back"), ("api_base", "https://203.0.113.7/api")],
)
async def test_any_url_field_counts_as_a_url_change(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, field: str, value: str
) -> None:
    world = await make_tenant(engine, cipher, configs={"octo": octo.account_config()})
    patched = await client.patch(
        f"/v1/gateway-accounts/{world.accounts['octo']}", json={"config": {field: value}}, headers=world.auth
    )
    assert patched.status_code == 422 and field in patched.json()["detail"], patched.text


EXPLOIT = "https://pay.example.com/{transaction_id.__init__.__globals__[os].environ[BILLING_SECRET_KEY]}"


@pytest.mark.parametrize("template", [EXPLOIT, "https://pay.example.com/{x}", "https://pay.example.com/{amount!r}"])
async def test_an_unsafe_payment_url_template_is_refused(
    client: httpx.AsyncClient, tenant: TenantWorld, template: str, settings: Settings
) -> None:
    config = {"secret": INTEGRATOR_SECRET, "name": "pos", "payment_url": template}
    added = await client.post(
        "/v1/gateway-accounts", json={"gateway": "integrator", "config": config}, headers=tenant.auth
    )
    assert added.status_code == 422, added.text
    assert added.json()["code"] == "invalid_gateway_config" and "payment_url" in added.json()["detail"]
    assert settings.secret_key is not None and settings.secret_key not in added.text
    patched = await client.patch(
        f"/v1/gateway-accounts/{tenant.accounts['integrator']}",
        json={"config": {"payment_url": template, "secret": INTEGRATOR_SECRET}},
        headers=tenant.auth,
    )
    assert patched.status_code == 422, patched.text


async def test_the_payment_url_placeholders_are_substituted(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    template = "https://pay.example.com/{transaction_id}?amount={amount}&currency={currency}"
    account = f"/v1/gateway-accounts/{tenant.accounts['integrator']}"
    change = {"payment_url": template, "secret": INTEGRATOR_SECRET}
    assert (await client.patch(account, json={"config": change}, headers=tenant.auth)).status_code == 200

    tx = await create(client, tenant, gateway="integrator", amount=2500, currency="USD")

    assert tx["payment_url"] == f"https://pay.example.com/{tx['id']}?amount=2500&currency=USD"


# --- the refusals end to end, on an ingress whose operator did not allow private providers -------------------------


@pytest.fixture(scope="module")
def strict_ingress(settings: Settings) -> Iterator[System]:
    port = free_port()
    strict = System(env={**service_env(settings, port), "BILLING_PROVIDERS_ALLOW_PRIVATE": "false"}, port=port)
    strict.start("ingress")
    try:
        strict.wait_ready()
        yield strict
    finally:
        strict.stop_all()


def api_url_cases() -> list[tuple[str, str]]:
    registry = GatewayRegistry.load()
    return [(a.name, field) for a in registry.all() for field in url_fields(a.config_model)]


@pytest.mark.parametrize(("gateway", "field"), api_url_cases())
async def test_every_url_field_refuses_private_and_plain_http_addresses_through_the_api(
    strict_ingress: System, tenant: TenantWorld, gateway: str, field: str
) -> None:
    bad: list[tuple[str, dict[str, Any]]] = []
    async with httpx.AsyncClient(base_url=strict_ingress.base_url, timeout=20) as http:
        urls = [url_for(host, gateway, field) for host in REFUSED_HOSTS]
        urls.append(url_for("93.184.216.34", gateway, field, scheme="http"))
        for url in urls:
            config = {**REQUIRED_KEYS[gateway], field: url}
            answer = await http.post(
                "/v1/gateway-accounts", json={"gateway": gateway, "config": config}, headers=tenant.auth
            )
            problem = answer.json()
            if answer.status_code != 422 or field not in problem.get("detail", ""):
                bad.append((url, problem))
        accepted = {**REQUIRED_KEYS[gateway], field: url_for("93.184.216.34", gateway, field)}
        ok = await http.post("/v1/gateway-accounts", json={"gateway": gateway, "config": accepted}, headers=tenant.auth)
    assert bad == [], f"{gateway}.{field} accepted or mis-answered: {bad}"
    assert ok.status_code == 201, ok.text


def test_the_cli_refuses_a_private_api_base_in_one_line(settings: Settings, tenant: TenantWorld) -> None:
    config = {**REQUIRED_KEYS["stripe"], "api_base": "https://169.254.169.254/latest"}
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": settings.database_url,
        "BILLING_SECRET_KEY": settings.secret_key or "",
        "BILLING_PROVIDERS_ALLOW_PRIVATE": "false",
    }
    args = ["gateway", "add", "--tenant", str(tenant.tenant_id), "--gateway", "stripe", "--config-json"]
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args, json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "billing: stripe config api_base: 169.254.169.254 is not a public address"
    ], done.stderr
