"""The operator console over real HTTP against the running services: sign-in, pages, actions, security."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress import cursors
from services.ingress.console.pages.transactions import PAGE_SIZE
from shared.persistence.console_reads import EXPORT_BATCH
from shared.persistence.keyset import Position
from shared.security.apikeys import Permission
from shared.security.cipher import Cipher
from tests.support.console import OperatorLogin, csrf_of, make_operator, sign_in
from tests.support.system import System
from tests.support.world import TenantWorld, make_tenant

PAGES = [
    "/console",
    "/console/transactions",
    "/console/refunds",
    "/console/reconciliations",
    "/console/accounts",
    "/console/api-keys",
    "/console/parked",
]


@pytest.fixture
async def operator(engine: AsyncEngine, tenant: TenantWorld) -> OperatorLogin:
    return await make_operator(engine, tenant.tenant_id)


@pytest.fixture
async def console(system: System, operator: OperatorLogin) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.base_url, timeout=20) as http:
        answer = await sign_in(http, operator)
        assert answer.status_code == 303 and answer.headers["location"] == "/console"
        yield http


async def pay(client: httpx.AsyncClient, tenant: TenantWorld, **extra: Any) -> dict[str, Any]:
    body = {"gateway": "cash", "amount": 300_000, "currency": "UZS", **extra}
    created = await client.post("/v1/transactions?wait=true", json=body, headers=tenant.auth)
    assert created.status_code in (201, 202), created.text
    tx: dict[str, Any] = created.json()
    return tx


async def settled(client: httpx.AsyncClient, tenant: TenantWorld, tx_id: str, status: str) -> dict[str, Any]:
    for _ in range(100):
        seen = (await client.get(f"/v1/transactions/{tx_id}", headers=tenant.auth)).json()
        if seen["status"] == status:
            return dict(seen)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{tx_id} never became {status}: {seen}")


async def test_the_sign_in_form_and_a_bad_password_set_no_session(system: System, operator: OperatorLogin) -> None:
    async with httpx.AsyncClient(base_url=system.base_url) as http:
        form = await http.get("/console/login")
        assert form.status_code == 200
        assert 'name="email"' in form.text and 'name="password"' in form.text
        assert len(re.findall(r'type="submit"', form.text)) == 1
        bad = await http.post("/console/login", data={"email": operator.email, "password": "wrong password!!"})
        assert 'name="password"' in bad.text and 'role="alert"' in bad.text
        assert "billing_console" not in bad.headers.get("set-cookie", "")
        assert (await http.get("/console")).status_code == 303


async def test_every_page_is_behind_sign_in_and_renders_with_its_headers(
    system: System, console: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=system.base_url) as anonymous:
        for path in PAGES:
            away = await anonymous.get(path)
            assert away.status_code == 303 and away.headers["location"].startswith("/console/login")
    for path in PAGES:
        page = await console.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert '<html lang="en">' in page.text
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "<script>" not in page.text  # no inline script anywhere


async def test_the_session_cookie_is_http_only_and_same_site(system: System, operator: OperatorLogin) -> None:
    async with httpx.AsyncClient(base_url=system.base_url) as http:
        cookie = (await sign_in(http, operator)).headers["set-cookie"].lower()
        assert "billing_console=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie  # plain http here; https requests get Secure


async def test_a_payment_appears_is_found_by_id_and_refunded_in_part_through_the_confirmation(
    client: httpx.AsyncClient, console: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    tx = await pay(client, tenant, metadata={"note": "<script>alert(1)</script>"})
    complete = await client.post(f"/v1/transactions/{tx['id']}/complete", json={}, headers=tenant.auth)
    assert complete.status_code == 202
    await settled(client, tenant, tx["id"], "completed")
    listed = await console.get("/console/transactions")
    assert tx["id"] in listed.text
    found = await console.get("/console/transactions", params={"q": tx["id"]})
    assert tx["id"] in found.text and "1 transactions" in found.text
    page = await console.get(f"/console/transactions/{tx['id']}")
    assert "3,000.00 UZS" in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    token = csrf_of(page.text)
    refused = await console.post(f"/console/transactions/{tx['id']}/refund", data={"amount": "1500.00"})
    assert refused.status_code == 403
    confirm = await console.post(
        f"/console/transactions/{tx['id']}/refund", data={"amount": "1500.00", "csrf_token": token}
    )
    assert confirm.status_code == 200 and "1,500.00 UZS" in confirm.text and 'name="confirm"' in confirm.text
    assert (await client.get(f"/v1/transactions/{tx['id']}/refunds", headers=tenant.auth)).json()["items"] == []
    refund_id = re.search(r'name="refund_id" value="([^"]+)"', confirm.text)
    assert refund_id
    done = await console.post(
        f"/console/transactions/{tx['id']}/refund",
        data={"amount": "1500.00", "csrf_token": token, "confirm": "yes", "refund_id": refund_id.group(1)},
    )
    assert done.status_code == 303
    after = await settled(client, tenant, tx["id"], "partially_refunded")
    assert after["refunded_amount"] == 150_000
    audit = (await client.get(f"/v1/transactions/{tx['id']}/audit", headers=tenant.auth)).json()["items"]
    assert any(entry["actor"].startswith("operator:") for entry in audit)
    shown = await console.get(f"/console/transactions/{tx['id']}")
    assert 'data-status="partially_refunded"' in shown.text and "1,500.00 UZS" in shown.text


async def test_another_tenants_transaction_is_not_found(
    engine: AsyncEngine, cipher: Cipher, client: httpx.AsyncClient, console: httpx.AsyncClient
) -> None:
    other = await make_tenant(engine, cipher)
    theirs = await pay(client, other)
    assert (await console.get(f"/console/transactions/{theirs['id']}")).status_code == 404
    searched = await console.get("/console/transactions", params={"q": theirs["id"]})
    assert f"/console/transactions/{theirs['id']}" not in searched.text and "0 transactions" in searched.text
    assert (await console.get(f"/console/transactions/{uuid.uuid4()}")).status_code == 404
    assert (await console.get("/console/transactions/not-a-uuid")).status_code == 404


async def test_language_follows_lang_then_the_cookie_then_accept_language(
    system: System, operator: OperatorLogin
) -> None:
    async with httpx.AsyncClient(base_url=system.base_url) as http:
        assert '<html lang="ru">' in (await http.get("/console/login", headers={"Accept-Language": "ru"})).text
        uz = await http.get("/console/login?lang=uz")
        assert '<html lang="uz">' in uz.text and "Kirish" in uz.text
        assert '<html lang="uz">' in (await http.get("/console/login")).text  # remembered
        ru = await http.get("/console/login?lang=ru")
        assert "Войти" in ru.text


async def test_five_failures_lock_the_email_even_for_the_right_password(
    system: System, operator: OperatorLogin
) -> None:
    async with httpx.AsyncClient(base_url=system.base_url) as http:
        for _ in range(5):
            await http.post("/console/login", data={"email": operator.email, "password": "not the password"})
        locked = await sign_in(http, operator)
        assert locked.status_code == 200 and "15" in locked.text
        assert "billing_console" not in locked.headers.get("set-cookie", "")


async def test_disabling_an_operator_ends_their_session_at_once(
    engine: AsyncEngine, console: httpx.AsyncClient, operator: OperatorLogin
) -> None:
    from shared.persistence.operators import Operators

    assert (await console.get("/console/transactions")).status_code == 200
    await Operators(engine).disable(operator.id)
    assert (await console.get("/console/transactions")).status_code == 303


async def test_permissions_are_checked_on_the_server(
    system: System, engine: AsyncEngine, tenant: TenantWorld, client: httpx.AsyncClient
) -> None:
    viewer = await make_operator(engine, tenant.tenant_id, [Permission.VIEW])
    tx = await pay(client, tenant)
    async with httpx.AsyncClient(base_url=system.base_url) as http:
        await sign_in(http, viewer)
        assert (await http.get("/console/api-keys")).status_code == 403
        page = await http.get(f"/console/transactions/{tx['id']}")
        assert page.status_code == 200 and "/cancel" not in page.text
        token = csrf_of(page.text)
        cancel = await http.post(f"/console/transactions/{tx['id']}/cancel", data={"csrf_token": token})
        assert cancel.status_code == 403
    assert (await client.get(f"/v1/transactions/{tx['id']}", headers=tenant.auth)).json()["status"] == "pending"


async def test_sign_out_ends_the_session(console: httpx.AsyncClient) -> None:
    token = csrf_of((await console.get("/console")).text)
    assert (await console.post("/console/logout", data={})).status_code == 403
    assert (await console.post("/console/logout", data={"csrf_token": token})).status_code == 303
    assert (await console.get("/console")).status_code == 303


async def test_accounts_take_secrets_that_are_never_shown_again(
    client: httpx.AsyncClient, console: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    page = await console.get("/console/accounts")
    token = csrf_of(page.text)
    config = '{"secret": "first-secret-0123456789", "name": "till-7"}'
    added = await console.post(
        "/console/accounts", data={"csrf_token": token, "gateway": "integrator", "config": config}
    )
    assert added.status_code == 303
    shown = await console.get(added.headers["location"])
    assert "first-secret-0123456789" not in shown.text and "/webhooks/integrator/" in shown.text
    rotated = await console.post(
        added.headers["location"].split("?")[0],
        data={"csrf_token": token, "kind": "secrets", "secret_secret": "second-secret-0123456789"},
    )
    assert rotated.status_code == 303
    listing = (await console.get("/console/accounts")).text
    assert "second-secret" not in listing and "first-secret" not in listing
    accounts = (await client.get("/v1/gateway-accounts", headers=tenant.auth)).json()["items"]
    assert any(a["config"].get("name") == "till-7" and a["secrets_set"] == ["secret"] for a in accounts)
    bad = await console.post("/console/accounts", data={"csrf_token": token, "gateway": "integrator", "config": "[1]"})
    assert bad.status_code == 200 and 'role="alert"' in bad.text


async def test_the_filtered_list_exports_as_csv(
    client: httpx.AsyncClient, console: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    usd = await pay(client, tenant, currency="USD", amount=1234)
    await pay(client, tenant)
    exported = await console.get("/console/transactions/export.csv", params={"currency": "USD"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.strip().splitlines()
    assert lines[0].startswith("id,created_at,gateway") and len(lines) == 2 and lines[1].startswith(usd["id"])
    assert ",1234,0,USD" in lines[1]


async def test_a_reconciliation_needs_a_source_and_other_tenants_runs_are_not_found(
    console: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    page = await console.get("/console/reconciliations")
    token = csrf_of(page.text)
    form = {"csrf_token": token, "account_id": str(tenant.accounts["cash"]), "from": "2026-11-01", "to": "2026-11-30"}
    refused = await console.post("/console/reconciliations", data=form)
    assert refused.status_code == 200 and 'role="alert"' in refused.text
    assert "No runs yet." in refused.text  # nothing was queued
    backwards = await console.post("/console/reconciliations", data={**form, "from": "2026-12-01"})
    assert 'role="alert"' in backwards.text
    unknown = await console.post("/console/reconciliations", data={**form, "account_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    assert (await console.get(f"/console/reconciliations/{uuid.uuid4()}")).status_code == 404
    tokenless = await console.post(
        "/console/reconciliations", data={k: v for k, v in form.items() if k != "csrf_token"}
    )
    assert tokenless.status_code == 403


LISTED = re.compile(r'<a class="mono" href="/console/transactions/([0-9a-f-]{36})">')
INVALID_CURSOR = "The list cursor is not valid"
NEWEST_FIRST = "WHERE tenant_id = :tenant AND status = 'failed' ORDER BY created_at DESC, id DESC"
NEWEST_FAILED_REFUNDS = f"SELECT transaction_id FROM refunds {NEWEST_FIRST}"
NEWEST_FAILED_TRANSACTIONS = f"SELECT id FROM transactions {NEWEST_FIRST}"


async def load(engine: AsyncEngine, world: TenantWorld, rows: int) -> None:
    """Two in three rows failed, the rest pending; sixty rows share each second, so pages end inside a tie."""
    transactions = text(
        "INSERT INTO transactions (id, tenant_id, account_id, gateway, status, amount, currency, created_at) "
        "SELECT gen_random_uuid(), :tenant, :account, 'cash', CASE WHEN n % 3 = 0 THEN 'pending' ELSE 'failed' END, "
        "1000, 'UZS', timestamptz '2026-01-01' + (n / 60) * interval '1 second' FROM generate_series(1, :rows) AS n"
    )
    refunds = text(
        "INSERT INTO refunds (id, tenant_id, transaction_id, amount, status, created_at) "
        "SELECT gen_random_uuid(), tenant_id, id, 100, CASE status WHEN 'failed' THEN 'failed' ELSE 'succeeded' END, "
        "created_at FROM transactions WHERE tenant_id = :tenant"
    )
    async with engine.begin() as conn:
        await conn.execute(transactions, {"tenant": world.tenant_id, "account": world.accounts["cash"], "rows": rows})
        await conn.execute(refunds, {"tenant": world.tenant_id})


async def listed_ids(engine: AsyncEngine, world: TenantWorld, query: str) -> list[str]:
    async with engine.connect() as conn:
        return [str(row[0]) for row in await conn.execute(text(query), {"tenant": world.tenant_id})]


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)">', page)
    return None if found is None else html.unescape(found.group(1))


async def walk(console: httpx.AsyncClient, url: str, rel: str) -> list[tuple[str, list[str]]]:
    """From `url`, following the `rel` links to the end: each page's address and the ids it lists."""
    pages: list[tuple[str, list[str]]] = []
    following: str | None = url
    while following is not None:
        answer = await console.get(following)
        assert answer.status_code == 200, answer.text[:500]
        pages.append((following, LISTED.findall(answer.text)))
        following = link(answer.text, rel)
    return pages


@pytest.mark.parametrize(
    ("path", "newest_first"),
    [("/console/transactions", NEWEST_FAILED_TRANSACTIONS), ("/console/refunds", NEWEST_FAILED_REFUNDS)],
    ids=["transactions", "refunds"],
)
async def test_the_cursor_links_visit_every_filtered_row_once_newest_first_and_walk_back(
    engine: AsyncEngine, cipher: Cipher, console: httpx.AsyncClient, tenant: TenantWorld, path: str, newest_first: str
) -> None:
    other = await make_tenant(engine, cipher)
    await load(engine, other, 162)
    await load(engine, tenant, 162)
    expected = await listed_ids(engine, tenant, newest_first)
    assert len(expected) == 2 * PAGE_SIZE + 8

    forward = await walk(console, f"{path}?status=failed", "next")
    assert [len(ids) for _, ids in forward] == [PAGE_SIZE, PAGE_SIZE, 8]
    assert [tx_id for _, ids in forward for tx_id in ids] == expected
    assert all("status=failed" in url and "page=" not in url for url, _ in forward)
    first = (await console.get(forward[0][0])).text
    assert link(first, "prev") is None and f"{PAGE_SIZE} " in first and "on this page" in first

    backward = await walk(console, forward[-1][0], "prev")
    assert [ids for _, ids in backward] == [ids for _, ids in reversed(forward)]
    assert all("status=failed" in url for url, _ in backward)


async def test_a_bookmarked_page_number_opens_that_page_and_its_links_go_on_by_cursor(
    engine: AsyncEngine, console: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    """The contract's `page` parameter: page 2 is the second page of the filtered list, newest first."""
    await load(engine, tenant, 162)
    expected = await listed_ids(engine, tenant, NEWEST_FAILED_TRANSACTIONS)
    forward = await walk(console, "/console/transactions?status=failed", "next")
    second = await console.get("/console/transactions", params={"status": "failed", "page": "2"})
    assert second.status_code == 200
    assert LISTED.findall(second.text) == expected[PAGE_SIZE : 2 * PAGE_SIZE] == forward[1][1]
    newer = link(second.text, "prev")
    assert newer is not None and "page=" not in newer
    assert LISTED.findall((await console.get(newer)).text) == expected[:PAGE_SIZE]
    for nonsense in ("0", "-1", "two", "²", "99999", "1" * 5000):
        answer = await console.get("/console/transactions", params={"status": "failed", "page": nonsense})
        assert answer.status_code == 200 and LISTED.findall(answer.text) == expected[:PAGE_SIZE], nonsense


async def test_a_malformed_or_edited_cursor_shows_the_newest_page_with_a_notice(
    engine: AsyncEngine, console: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    await load(engine, tenant, 3)
    newest = (await listed_ids(engine, tenant, NEWEST_FAILED_TRANSACTIONS))[0]
    cursor = cursors.encode(Position(datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(newest)))
    edited = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    refused = [
        {"after": "not a cursor"},
        {"before": "A" * 200},
        {"before": cursor + "="},
        {"after": edited},
        {"before": cursor + "A"},
        {"after": cursor, "before": cursor},
    ]
    for path in ("/console/transactions", "/console/refunds"):
        for params in refused:
            answer = await console.get(path, params={"status": "failed", **params})
            assert answer.status_code == 200, (path, params, answer.text[:500])
            assert INVALID_CURSOR in answer.text and newest in answer.text, (path, params)
            assert link(answer.text, "prev") is None
    untouched = await console.get("/console/transactions", params={"after": cursor, "page": "7"})
    assert INVALID_CURSOR not in untouched.text and newest not in untouched.text


async def test_the_export_streams_every_filtered_row_newest_first_across_batches(
    engine: AsyncEngine, console: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    await load(engine, tenant, 1600)
    expected = await listed_ids(engine, tenant, NEWEST_FAILED_TRANSACTIONS)
    assert len(expected) > EXPORT_BATCH
    exported = await console.get("/console/transactions/export.csv", params={"status": "failed"})
    assert exported.status_code == 200
    assert [line.split(",")[0] for line in exported.text.strip().splitlines()[1:]] == expected
