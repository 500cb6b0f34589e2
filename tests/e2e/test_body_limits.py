"""Bodies past a route's limit are refused with 413 while they stream in, whatever Content-Length says."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress.body_limits import API_MAX_BODY, SETTLEMENT_FILE_MAX_BODY, WEBHOOK_MAX_BODY
from shared.persistence.tables import reconciliations
from tests.support.system import System
from tests.support.world import TenantWorld

CHUNK = 64 * 1024


async def chunks(total: int, filler: bytes = b"x") -> AsyncIterator[bytes]:
    """`total` bytes in 64 KiB chunks: httpx sends them chunked, with no Content-Length at all."""
    sent = 0
    while sent < total:
        size = min(CHUNK, total - sent)
        yield filler * size
        sent += size


async def raw_post(
    system: System, path: str, head: dict[str, str], body: bytes, after: bytes = b""
) -> tuple[int, bytes]:
    """Send exactly these headers and bytes (a Content-Length that lies included); the status and body back.

    `after` follows once the answer is in: bytes the client meant as body, past what its header declared.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", system.port)
    try:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
        writer.write("\r\n".join(lines).encode() + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        answer = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 10)
        if after:
            with contextlib.suppress(OSError):  # the server drops a connection that sends it garbage
                writer.write(after)
                await writer.drain()
                await asyncio.wait_for(reader.read(), 10)
        return int(status_line.split()[1]), answer
    finally:
        writer.close()


def too_large(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "body_too_large"
    return problem


async def transaction_count(client: httpx.AsyncClient, tenant: TenantWorld) -> int:
    await asyncio.sleep(0.5)  # a command that slipped through would be created by now
    response = await client.get("/v1/transactions/count", headers=tenant.auth)
    assert response.status_code == 200
    count: int = response.json()["count"]
    return count


def create_body(tenant: TenantWorld, padding: int) -> bytes:
    body = {
        "gateway": "cash",
        "account_id": str(tenant.accounts["cash"]),
        "amount": 1_000,
        "currency": "UZS",
        "metadata": {"padding": "p" * padding},
    }
    return json.dumps(body).encode()


async def test_an_api_body_past_1_mib_is_refused_and_creates_nothing(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    headers = {**tenant.auth, "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    big = create_body(tenant, API_MAX_BODY)
    problem = too_large(await client.post("/v1/transactions", content=big, headers=headers))
    assert problem["limit"] == API_MAX_BODY

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(big), CHUNK):
            yield big[start : start + CHUNK]

    chunked = await client.post("/v1/transactions", content=streamed(), headers=headers)
    too_large(chunked)
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in chunked.request.headers
    assert await transaction_count(client, tenant) == 0

    fits = await client.post("/v1/transactions", content=create_body(tenant, 1000), headers=headers)
    assert fits.status_code == 202, fits.text


async def test_a_content_length_past_the_limit_is_refused_before_the_body_arrives(
    system: System, tenant: TenantWorld, client: httpx.AsyncClient
) -> None:
    # The header claims 5 MiB and only a few bytes follow: the answer comes without waiting for the rest.
    head = {**tenant.auth, "Content-Type": "application/json", "Content-Length": str(5 * API_MAX_BODY)}
    status, body = await raw_post(system, "/v1/transactions", head, create_body(tenant, 10)[:40])
    assert status == 413 and json.loads(body)["code"] == "body_too_large"
    assert await transaction_count(client, tenant) == 0


async def test_a_content_length_that_understates_the_body_is_held_to_its_own_word(
    system: System, tenant: TenantWorld, client: httpx.AsyncClient
) -> None:
    # 16 bytes declared, 2 MiB sent: only the declared bytes are the request (not JSON: refused), the rest is
    # never taken for a body and cannot make a transaction.
    big = create_body(tenant, 2 * API_MAX_BODY)
    head = {**tenant.auth, "Content-Type": "application/json", "Content-Length": "16"}
    status, _ = await raw_post(system, "/v1/transactions", head, big[:16], after=big[16:])
    assert status == 400
    assert await transaction_count(client, tenant) == 0


WEBHOOKS = (
    "/webhooks/payme/{account}",
    "/webhooks/click/{account}/prepare",
    "/webhooks/click/{account}/complete",
    "/webhooks/octo/{account}",
    "/webhooks/stripe/{account}",
    "/webhooks/integrator/{account}",
)


@pytest.mark.parametrize("route", WEBHOOKS)
async def test_a_webhook_body_past_256_kib_is_refused_streamed_or_declared(
    client: httpx.AsyncClient, tenant: TenantWorld, route: str
) -> None:
    path = route.format(account=tenant.accounts["integrator"])
    declared = too_large(await client.post(path, content=b"x" * (WEBHOOK_MAX_BODY + 1)))
    assert declared["limit"] == WEBHOOK_MAX_BODY
    too_large(await client.post(path, content=chunks(WEBHOOK_MAX_BODY + CHUNK)))


async def test_an_integrator_callback_under_the_limit_is_read(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    # 200 KiB is under the webhook limit: the callback is read and judged on its signature, not its size.
    path = f"/webhooks/integrator/{tenant.accounts['integrator']}"
    response = await client.post(path, content=b"x" * (200 * 1024))
    assert response.status_code == 401, response.text


async def runs_of(engine: AsyncEngine, tenant: TenantWorld) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(reconciliations.c.tenant_id == tenant.tenant_id)
        return int((await conn.execute(query)).scalar_one())


async def test_a_settlement_file_past_50_mib_is_refused_while_it_streams(
    client: httpx.AsyncClient, tenant: TenantWorld, engine: AsyncEngine
) -> None:
    boundary = "settlement-boundary"
    fields = {"account_id": str(tenant.accounts["cash"]), "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}

    async def upload() -> AsyncIterator[bytes]:
        for name, value in fields.items():
            yield f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'.encode()
        async for chunk in chunks(SETTLEMENT_FILE_MAX_BODY + CHUNK, b"1"):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**tenant.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    problem = too_large(await client.post("/v1/reconciliations", content=upload(), headers=headers))
    assert problem["limit"] == SETTLEMENT_FILE_MAX_BODY
    assert await runs_of(engine, tenant) == 0

    json_headers = {**tenant.auth, "Content-Type": "application/json"}
    padded = json.dumps({**fields, "padding": "p" * API_MAX_BODY}).encode()
    too_large(await client.post("/v1/reconciliations", content=padded, headers=json_headers))
    assert await runs_of(engine, tenant) == 0
