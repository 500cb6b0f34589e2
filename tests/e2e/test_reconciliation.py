"""Reconciliation of a cash account against a settlement file holding every kind of difference."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.events import EventLog
from tests.support.http import create, paid, until
from tests.support.system import System
from tests.support.world import TenantWorld

HEADER = ["gateway_id", "reference", "amount", "currency", "status", "refunded_amount"]


async def _ledger(client: httpx.AsyncClient, world: TenantWorld) -> tuple[dict[str, dict[str, Any]], list[list[str]]]:
    """Seven payments and the processor's file: one agrees, five disagree, one is missing from it."""
    agree = await paid(client, world, amount=1000)
    amount = await paid(client, world, amount=2000)
    pending = await create(client, world, amount=3000)
    missing = await paid(client, world, amount=4000)
    refund = await paid(client, world, amount=5000)
    await client.post(f"/v1/transactions/{refund['id']}/refunds", json={"amount": 300}, headers=world.auth)
    await until(client, world, refund["id"], "partially_refunded")
    failed = await paid(client, world, amount=6000)
    rows = [
        ["g-1", agree["id"], "1000", "UZS", "completed", "0"],
        ["g-2", amount["id"], "2500", "UZS", "completed", "0"],
        ["g-3", pending["id"], "3000", "UZS", "paid", "0"],
        ["g-5", refund["id"], "5000", "UZS", "partially_refunded", "500"],
        ["g-6", failed["id"], "6000", "UZS", "failed", "0"],
        ["g-7", "order-unknown-to-us", "7000", "UZS", "completed", "0"],
    ]
    txs = {"agree": agree, "amount": amount, "pending": pending, "missing": missing, "refund": refund, "failed": failed}
    return txs, rows


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def _period() -> dict[str, str]:
    now = time.time()
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {"from": time.strftime(fmt, time.gmtime(now - 3600)), "to": time.strftime(fmt, time.gmtime(now + 3600))}


async def _finished(client: httpx.AsyncClient, world: TenantWorld, run_id: str) -> dict[str, Any]:
    for _ in range(150):
        view = (await client.get(f"/v1/reconciliations/{run_id}", headers=world.auth)).json()
        if view["status"] in ("completed", "failed"):
            return dict(view)
        await asyncio.sleep(0.1)
    raise AssertionError(f"reconciliation {run_id} did not finish")


async def test_a_settlement_file_reports_every_difference_and_fixes_the_safe_one(
    client: httpx.AsyncClient, tenant: TenantWorld, events: EventLog
) -> None:
    txs, rows = await _ledger(client, tenant)
    started = await client.post(
        "/v1/reconciliations",
        data={"account_id": str(tenant.accounts["cash"]), **_period()},
        files={"file": ("settlement.csv", _csv(rows), "text/csv")},
        headers=tenant.auth,
    )
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    view = await _finished(client, tenant, started.json()["id"])
    assert view["status"] == "completed", view
    assert view["counts"]["records"] == 6 and view["counts"]["matched"] == 5
    assert view["counts"]["by_kind"] == {
        "amount_differs": 1, "status_differs": 2, "refund_differs": 1, "missing_there": 1, "missing_here": 1,
    }  # fmt: skip
    by_tx = {d["transaction_id"]: d for d in view["differences"] if d["transaction_id"]}
    assert by_tx[txs["amount"]["id"]]["kind"] == "amount_differs"
    assert by_tx[txs["missing"]["id"]]["kind"] == "missing_there"
    assert by_tx[txs["refund"]["id"]]["theirs"]["refunded_amount"] == 500
    assert by_tx[txs["failed"]["id"]]["resolution"] == "needs_attention"
    assert by_tx[txs["pending"]["id"]]["resolution"] == "fixed" and view["counts"]["fixed"] == 1
    [unknown] = [d for d in view["differences"] if d["kind"] == "missing_here"]
    assert unknown["theirs"]["merchant_reference"] == "order-unknown-to-us"

    fixed = await until(client, tenant, txs["pending"]["id"], "completed")
    audit = (await client.get(f"/v1/transactions/{fixed['id']}/audit", headers=tenant.auth)).json()["items"]
    assert audit[-1]["actor"] == "reconciliation" and audit[-1]["action"] == "complete"
    mismatch = await events.wait_for(txs["amount"]["id"], "reconciliation.mismatch")
    assert mismatch.body["data"]["kind"] == "amount_differs"
    assert mismatch.body["data"]["reconciliation_id"] == view["id"]
    untouched = (await client.get(f"/v1/transactions/{txs['failed']['id']}", headers=tenant.auth)).json()
    assert untouched["status"] == "completed", "only the safe fix is applied"


async def test_bad_requests_are_refused(client: httpx.AsyncClient, tenant: TenantWorld) -> None:
    account = str(tenant.accounts["cash"])
    no_api = await client.post("/v1/reconciliations", json={"account_id": account, **_period()}, headers=tenant.auth)
    assert no_api.status_code == 422 and no_api.json()["code"] == "no_api_source"
    backwards = {"account_id": account, "from": _period()["to"], "to": _period()["from"]}
    assert (await client.post("/v1/reconciliations", json=backwards, headers=tenant.auth)).status_code == 422
    no_period = await client.post("/v1/reconciliations", json={"account_id": account}, headers=tenant.auth)
    assert (no_period.status_code, no_period.json()["detail"]) == (422, "from: Field required"), "the contract's name"
    unknown = {"account_id": str(uuid.uuid4()), **_period()}
    assert (await client.post("/v1/reconciliations", json=unknown, headers=tenant.auth)).status_code == 404
    assert (await client.get(f"/v1/reconciliations/{uuid.uuid4()}", headers=tenant.auth)).status_code == 404
    broken = await client.post(
        "/v1/reconciliations",
        data={"account_id": account, **_period()},
        files={"file": ("bad.csv", b"gateway_id,amount\ng-1,5\n", "text/csv")},
        headers=tenant.auth,
    )
    view = await _finished(client, tenant, broken.json()["id"])
    assert view["status"] == "failed" and "missing column" in view["error"]


async def test_the_command_line_runs_and_writes_the_report(
    client: httpx.AsyncClient, tenant: TenantWorld, system: System, tmp_path: Path
) -> None:
    txs, rows = await _ledger(client, tenant)
    settlement = tmp_path / "settlement.csv"
    settlement.write_bytes(_csv(rows))
    report = tmp_path / "report.csv"
    period = _period()
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "reconcile", "--account", str(tenant.accounts["cash"]),
         "--from", period["from"], "--to", period["to"], "--file", str(settlement), "--csv", str(report)],
        env=system.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "differences" in result.stdout and "missing_there" in result.stdout
    lines = list(csv.DictReader(report.open()))
    assert len(lines) == 6
    assert {line["kind"] for line in lines} >= {"amount_differs", "missing_here", "missing_there"}
    assert json.loads(next(row for row in lines if row["kind"] == "amount_differs")["theirs"])["amount"] == 2500
    bad = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "reconcile", "--account", "nope", "--from", "x", "--to", "y"],
        env=system.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    assert txs
