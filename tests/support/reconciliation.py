"""Starting a reconciliation run through the API and waiting for its report; a ledger for API sources."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from shared.domain.transaction import Transaction
from tests.support.world import TenantWorld


class Ledger:
    """Our side of a reconciliation, as an API source reads it: the given transactions, streamed."""

    def __init__(self, *txs: Transaction) -> None:
        self._txs = txs

    async def transactions(self) -> AsyncIterator[Transaction]:
        for tx in self._txs:
            yield tx


def this_hour() -> dict[str, str]:
    """A period around now: it holds every transaction a test has just made."""
    now = time.time()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {"from": time.strftime(fmt, time.gmtime(now - 3600)), "to": time.strftime(fmt, time.gmtime(now + 3600))}


async def reconcile(
    client: httpx.AsyncClient,
    world: TenantWorld,
    account_id: uuid.UUID,
    file: bytes | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """`POST /v1/reconciliations` (the API source, or a settlement file), then the finished run's view."""
    fields = {"account_id": str(account_id), **this_hour()}
    if file is None:
        started = await client.post("/v1/reconciliations", json=fields, headers=world.auth)
    else:
        upload = {"file": ("settlement.csv", file, "text/csv")}
        started = await client.post("/v1/reconciliations", data=fields, files=upload, headers=world.auth)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/v1/reconciliations/{started.json()['id']}", headers=world.auth)
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        if view["status"] in ("completed", "failed"):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"reconciliation {view['id']} did not finish; last seen {view}")
        await asyncio.sleep(0.1)


def by_transaction(view: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The run's differences grouped by our transaction id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for difference in view["differences"]:
        found.setdefault(str(difference["transaction_id"]), []).append(difference)
    return found
