"""The console in a real browser (Playwright driving Debian's Chromium) against the running services.

One browser for the whole module: starting Chromium is slow, so the steps run in order in one test, each
asserting what a person would see. With BILLING_CONSOLE_SCREENSHOTS=1 it also writes docs/console/*.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.broker.consumer import ATTEMPT_HEADER, ORIGIN_HEADER, REASON_HEADER, ROUTING_KEY_HEADER
from shared.broker.topology import PARKING_QUEUE
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.support.system import System
from tests.support.world import TenantWorld, make_tenant

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
PASSWORD = "a browser-typed password"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium package is not installed")


def billing_cli(system: System, *args: str, stdin: str | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args],
        env=system.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def operator_of(system: System, tenant: TenantWorld) -> str:
    """An operator made as the README says: `billing operator create ... --password-stdin`."""
    email = f"support-{uuid.uuid4().hex[:8]}@example.test"
    args = ["operator", "create", "--tenant", str(tenant.tenant_id), "--email", email, "--password-stdin"]
    for permission in ("view", "create", "refund", "cancel", "reconcile", "gateways.manage"):
        args += ["--permission", f"billing.{permission}"]
    created = billing_cli(system, *args, stdin=PASSWORD + "\n")
    assert created["email"] == email and "password" not in created
    listed = billing_cli(system, "operator", "list", "--tenant", str(tenant.tenant_id))
    assert [item["email"] for item in listed["items"]] == [email]
    return email


@pytest.fixture(scope="module")
async def browser(system: System) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def shot(page: Any, name: str) -> None:
    if os.environ.get("BILLING_CONSOLE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def sign_in(page: Any, base: str, email: str) -> None:
    await page.goto(f"{base}/console/login?lang=en")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console")


async def api_status(client: httpx.AsyncClient, tenant: TenantWorld, tx_id: str, wanted: str) -> dict[str, Any]:
    for _ in range(100):
        seen: dict[str, Any] = (await client.get(f"/v1/transactions/{tx_id}", headers=tenant.auth)).json()
        if seen["status"] == wanted:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{tx_id} stayed {seen['status']}, not {wanted}")


async def park(settings: Settings, body: dict[str, Any], routing_key: str, reason: str) -> str:
    """Put a command on the parking queue as the consumer does after its last failed attempt."""
    message_id = body["command_id"]
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        headers: dict[str, Any] = {
            REASON_HEADER: reason,
            ROUTING_KEY_HEADER: routing_key,
            ORIGIN_HEADER: "billing.processor",
            ATTEMPT_HEADER: 5,
        }
        message = aio_pika.Message(json.dumps(body).encode(), message_id=message_id, headers=headers)
        await channel.default_exchange.publish(message, routing_key=PARKING_QUEUE)
    return str(message_id)


@pytest.mark.timeout(480)
async def test_a_support_agent_works_in_the_console(
    system: System,
    settings: Settings,
    engine: AsyncEngine,
    cipher: Cipher,
    client: httpx.AsyncClient,
    browser: Any,
) -> None:
    base = system.base_url
    click = {
        "service_id": 70000 + secrets.randbelow(9999),
        "merchant_id": 5000 + secrets.randbelow(999),
        "merchant_user_id": 77,
        "secret_key": "click-secret-for-the-browser",
        "api_base": "http://127.0.0.1:9",
    }
    tenant = await make_tenant(engine, cipher, configs={"cash": {}, "click": click})
    other = await make_tenant(engine, cipher)
    email = operator_of(system, tenant)
    other_email = operator_of(system, other)
    context = await browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
    page = await context.new_page()

    # Sign in; the form is the contract's.
    await page.goto(f"{base}/console/login?lang=en")
    await shot(page, "login-en")
    await sign_in(page, base, email)
    assert await page.get_attribute("html", "lang") == "en"

    # A payment created through the API appears; a Click one is found by its gateway reference.
    reference = f"ORDER-{uuid.uuid4().hex[:10]}"
    clicked = await client.post(
        "/v1/transactions",
        json={"gateway": "click", "amount": 125_000, "currency": "UZS", "details": {"merchant_trans_id": reference}},
        headers=tenant.auth,
    )
    assert clicked.status_code == 202, clicked.text
    injected = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"
    created = await client.post(
        "/v1/transactions?wait=true",
        json={"gateway": "cash", "amount": 300_000, "currency": "UZS", "metadata": {"note": injected}},
        headers=tenant.auth,
    )
    tx = created.json()
    await api_status(client, tenant, tx["id"], "pending")
    completing = await client.post(f"/v1/transactions/{tx['id']}/complete", json={}, headers=tenant.auth)
    assert completing.status_code == 202, completing.text
    await api_status(client, tenant, tx["id"], "completed")
    await api_status(client, tenant, clicked.json()["id"], "pending")
    await page.goto(f"{base}/console")
    await shot(page, "overview-en")
    await page.click("header nav >> text=Transactions")
    assert await page.locator(f"a[href='/console/transactions/{tx['id']}']").count() == 1
    await page.fill("input[name=q]", reference)
    await page.click("form.filters button[type=submit]")
    rows = page.locator("table.list tbody tr")
    assert await rows.count() == 1
    assert clicked.json()["id"] in await rows.first.inner_text()
    await page.goto(f"{base}/console/transactions")
    await shot(page, "transactions-en")

    # Its page shows the metadata as text; the injected markup runs nothing.
    await page.goto(f"{base}/console/transactions/{tx['id']}")
    assert "<script>window.__pwned = 1</script>" in await page.locator("pre.metadata").inner_text()
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("dd.amount").inner_text() == "3,000.00 UZS"

    # A form posted without its token is refused and changes nothing.
    refused = await page.request.post(
        f"{base}/console/transactions/{tx['id']}/refund", form={"amount": "1500.00"}, max_redirects=0
    )
    assert refused.status == 403

    # Refund half: the confirmation says what will happen, then the status and the audit show it.
    await page.fill("form.refund input[name=amount]", "1500.00")
    await page.click("form.refund button[type=submit]")
    assert "1,500.00 UZS" in await page.locator(".confirm-what").inner_text()
    await shot(page, "refund-confirm-en")
    await page.click("form >> button.danger")
    await page.wait_for_url(re.compile(r".*done=refund"))
    refunded = await api_status(client, tenant, tx["id"], "partially_refunded")
    assert refunded["refunded_amount"] == 150_000
    await page.reload()
    assert await page.locator("h1 .status").get_attribute("data-status") == "partially_refunded"
    assert await page.locator(".audit-entry td.after", has_text="partially_refunded").count() >= 1
    assert await page.locator(".audit-head", has_text="operator:").count() >= 1
    await shot(page, "transaction-en")

    # Another language: labels and amounts change, and the choice is remembered.
    await page.click("a[hreflang=uz]")
    assert await page.get_attribute("html", "lang") == "uz"
    assert await page.locator("header nav a[href='/console/transactions']").inner_text() == "Tranzaksiyalar"
    uz_amount = await page.locator("dd.amount").inner_text()
    assert uz_amount.replace("\u00a0", " ") == "3 000,00 UZS"
    await shot(page, "transaction-uz")
    await page.goto(f"{base}/console")
    assert await page.get_attribute("html", "lang") == "uz"
    await shot(page, "overview-uz")
    await page.goto(f"{base}/console/transactions?lang=ru")
    assert await page.locator("h1").inner_text() == "Транзакции"
    await shot(page, "transactions-ru")
    await page.goto(f"{base}/console/transactions/{tx['id']}")
    assert await page.locator("dd.refunded").inner_text() in ("1 500,00 UZS", "1\u00a0500,00 UZS")
    await shot(page, "transaction-ru")
    await page.goto(f"{base}/console/refunds?lang=en")
    assert await page.locator("table.list tbody tr").count() == 1
    await shot(page, "refunds-en")

    # An API key made in the console works until it is revoked there.
    await page.goto(f"{base}/console/api-keys")
    await page.fill("input[name=name]", "reporting")
    await page.check("input[value='billing.view']")
    await page.click("form >> text=Create the key")
    secret = (await page.locator("#new-key").inner_text()).strip()
    await shot(page, "api-keys-en")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert (await client.get(f"/v1/transactions/{tx['id']}", headers=bearer)).status_code == 200
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.locator("tr.api-key", has_text="reporting").locator("button").click()
    await page.wait_for_url(f"{base}/console/api-keys")
    assert await page.locator("tr.api-key", has_text="reporting").count() == 0
    assert (await client.get(f"/v1/transactions/{tx['id']}", headers=bearer)).status_code == 401

    # A parked command of this tenant is shown with its reason and replayed.
    pending = (
        await client.post(
            "/v1/transactions", json={"gateway": "cash", "amount": 5_000, "currency": "UZS"}, headers=tenant.auth
        )
    ).json()
    await api_status(client, tenant, pending["id"], "pending")
    command = {
        "command_id": f"cancel:{pending['id']}",
        "tenant_id": str(tenant.tenant_id),
        "actor": "test",
        "transaction_id": pending["id"],
        "reason": "parked then replayed",
    }
    message_id = await park(settings, command, "transaction.cancel", "database: connection reset")
    await page.goto(f"{base}/console/parked")
    row = page.locator(f"tr.parked[data-message-id='{message_id}']")
    assert "database: connection reset" in await row.inner_text()
    await shot(page, "parked-en")
    await row.locator("button").click()
    await page.wait_for_url(re.compile(r".*/console/parked\?done=1"))
    await api_status(client, tenant, pending["id"], "canceled")

    for path, name in (("/console/accounts", "accounts-en"), ("/console/reconciliations", "reconciliations-en")):
        await page.goto(f"{base}{path}")
        assert await page.locator("main h1").count() == 1
        await shot(page, name)
    assert "click-secret-for-the-browser" not in await page.content()
    await page.goto(f"{base}/console/accounts/{tenant.accounts['click']}")
    assert "click-secret-for-the-browser" not in await page.content()
    await shot(page, "account-en")

    # Another tenant's operator sees none of it.
    stranger = await browser.new_context(locale="en-US")
    their_page = await stranger.new_page()
    await sign_in(their_page, base, other_email)
    await their_page.goto(f"{base}/console/transactions")
    assert tx["id"] not in await their_page.content()
    await their_page.goto(f"{base}/console/transactions?q={reference}")
    assert await their_page.locator("table.list tbody td.empty").count() == 1
    answer = await their_page.goto(f"{base}/console/transactions/{tx['id']}")
    assert answer is not None and answer.status == 404
    assert message_id not in await (await their_page.goto(f"{base}/console/parked") or their_page).text()
    await stranger.close()
    await context.close()
