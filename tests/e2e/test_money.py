"""Money for finance: the reporting currency, the operator's rates, and the conversion every view carries."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.apikeys import Permission
from shared.security.cipher import Cipher
from tests.support.events import EventLog
from tests.support.fakes.cbu import cbu_entry
from tests.support.http import paid
from tests.support.system import System
from tests.support.world import TenantWorld, make_tenant


async def billing(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "shared.cli.main", *args]
    return await asyncio.to_thread(subprocess.run, command, env=system.env, capture_output=True, text=True, timeout=60)


async def billing_json(system: System, *args: str) -> Any:
    done = await billing(system, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def a_past_day() -> date:
    """Rates are the whole service's: each test imports for a date of its own."""
    return date(1980, 1, 1) + timedelta(days=random.randrange(3_000))


async def test_a_tenant_is_created_with_its_reporting_currency(system: System) -> None:
    made = await billing_json(system, "tenant", "create", "--name", "Acme", "--reporting-currency", "EUR")
    assert made["name"] == "Acme" and made["reporting_currency"] == "EUR"
    default = await billing_json(system, "tenant", "create", "--name", "Plain")
    assert default["reporting_currency"] == "UZS"
    bad = await billing(system, "tenant", "create", "--name", "Bad", "--reporting-currency", "EURO")
    assert bad.returncode != 0 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "--reporting-currency" in bad.stderr


async def test_the_tenant_api_shows_and_changes_the_reporting_currency(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher
) -> None:
    viewer = await make_tenant(engine, cipher, permissions=[Permission.VIEW])
    shown = await client.get("/v1/tenant", headers=viewer.auth)
    assert shown.status_code == 200
    assert shown.json() == {"id": str(viewer.tenant_id), "name": shown.json()["name"], "reporting_currency": "UZS"}
    refused = await client.patch("/v1/tenant", json={"reporting_currency": "USD"}, headers=viewer.auth)
    assert refused.status_code == 403

    manager = await make_tenant(engine, cipher, permissions=[Permission.GATEWAYS_MANAGE])
    changed = await client.patch("/v1/tenant", json={"reporting_currency": "KWD"}, headers=manager.auth)
    assert changed.status_code == 200 and changed.json()["reporting_currency"] == "KWD"
    for bad in ("XYZ", "usd", "", 840):
        wrong = await client.patch("/v1/tenant", json={"reporting_currency": bad}, headers=manager.auth)
        assert wrong.status_code == 422, bad
        assert wrong.headers["content-type"].startswith("application/problem+json")
    after = await client.get("/v1/tenant", headers=manager.auth)
    assert after.json()["reporting_currency"] == "KWD"


async def test_rates_imported_from_a_cbu_list_and_corrected_by_hand(
    system: System, client: httpx.AsyncClient, tenant: TenantWorld, tmp_path: Path
) -> None:
    day = a_past_day()
    listing = [cbu_entry("USD", "12650.12", 1, day), cbu_entry("KRW", "87.12", 10, day)]
    (tmp_path / "cbu.json").write_text(json.dumps(listing))
    imported = await billing_json(system, "rates", "import", "--file", str(tmp_path / "cbu.json"), "--format", "cbu")
    assert imported["added"] == 2 and imported["dates"] == [day.isoformat()]
    again = await billing_json(system, "rates", "import", "--file", str(tmp_path / "cbu.json"), "--format", "cbu")
    assert again["added"] == 0 and again["unchanged"] == 2

    later = day + timedelta(days=3)
    shown = await client.get(f"/v1/exchange-rates?date={later.isoformat()}", headers=tenant.auth)
    assert shown.status_code == 200
    assert shown.json() == {"date": later.isoformat(), "quote": "UZS", "rates": {"KRW": "8.712", "USD": "12650.12"}}

    fixed = await billing_json(
        system, "rates", "set", "--date", day.isoformat(), "--currency", "USD", "--rate", "12651.5"
    )
    assert fixed["corrected"] == 1
    shown = await client.get(f"/v1/exchange-rates?date={day.isoformat()}", headers=tenant.auth)
    assert shown.json()["rates"]["USD"] == "12651.5"
    stale = await client.get(f"/v1/exchange-rates?date={(day + timedelta(days=8)).isoformat()}", headers=tenant.auth)
    assert stale.json()["rates"] == {}

    (tmp_path / "plain.json").write_text(json.dumps({"date": later.isoformat(), "quote": "UZS", "rates": {"EUR": "1"}}))
    plain = await billing_json(system, "rates", "import", "--file", str(tmp_path / "plain.json"), "--format", "json")
    assert plain["added"] == 1
    bad = await billing(system, "rates", "set", "--date", day.isoformat(), "--currency", "USD", "--rate", "12,6x")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    bad_date = await client.get("/v1/exchange-rates?date=15.01.2025", headers=tenant.auth)
    assert bad_date.status_code == 422


async def test_a_payment_shows_its_conversion_in_the_api_and_in_its_event(
    system: System, client: httpx.AsyncClient, tenant: TenantWorld, events: EventLog
) -> None:
    today = datetime.now(UTC).date()
    for day in (today - timedelta(days=1), today):  # a session crossing midnight still finds a rate
        await billing_json(system, "rates", "set", "--date", day.isoformat(), "--currency", "GEL", "--rate", "4700.25")
    patched = await client.patch("/v1/tenant", json={"reporting_currency": "GEL"}, headers=tenant.auth)
    assert patched.status_code == 200
    tx = await paid(client, tenant, amount=1_000_001)  # 10 000.01 UZS / 4700.25 = 2.1275... GEL
    assert tx["reporting"]["currency"] == "GEL" and tx["reporting"]["amount"] == 213
    assert Decimal(tx["reporting"]["rate"]) == Decimal(1) / Decimal("4700.25")
    assert tx["reporting"]["rate_date"] == today.isoformat()
    completed = await events.wait_for(tx["id"], "transaction.completed")
    assert completed.body["data"]["reporting"] == tx["reporting"]
    audit = (await client.get(f"/v1/transactions/{tx['id']}/audit", headers=tenant.auth)).json()["items"]
    assert audit[-1]["after"]["reporting"] == tx["reporting"]


async def test_a_rate_or_a_reporting_currency_changed_between_two_payments_applies_to_the_second(
    system: System, client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    """The processor keeps rates and reporting currencies while it hears PostgreSQL's notices of their changes:
    a change is seen by the very next payment, never served stale from that cache."""
    patched = await client.patch("/v1/tenant", json={"reporting_currency": "MDL"}, headers=tenant.auth)
    assert patched.status_code == 200
    before = await paid(client, tenant, amount=100_000)
    assert before["reporting"] is None, "no MDL rate yet"

    today = datetime.now(UTC).date()
    for day in (today - timedelta(days=1), today):
        await billing_json(system, "rates", "set", "--date", day.isoformat(), "--currency", "MDL", "--rate", "91.5")
    after_rate = await paid(client, tenant, amount=100_000)
    assert after_rate["reporting"]["currency"] == "MDL" and after_rate["reporting"]["amount"] == 1093

    patched = await client.patch("/v1/tenant", json={"reporting_currency": "UZS"}, headers=tenant.auth)
    assert patched.status_code == 200
    after_currency = await paid(client, tenant, amount=100_000)
    assert after_currency["reporting"]["currency"] == "UZS" and after_currency["reporting"]["amount"] == 100_000
