"""`billing reconcile`: one run from the command line, with a progress bar, a summary and a CSV report."""

from __future__ import annotations

import csv
import functools
import json
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.cli.simulation import load_account
from shared.clock import utc_now
from shared.gateways.registry import GatewayRegistry
from shared.persistence.database import create_engine
from shared.persistence.unit_of_work import UnitOfWork
from shared.reconciliation.engine import Reconciler
from shared.reconciliation.runs import queue_run, run_view
from shared.security.cipher import Cipher
from shared.settings import Settings, secret_key


class ReconcileRefused(Exception):
    """Bad input: one line for the user."""


async def reconcile(
    settings: Settings,
    account_id: uuid.UUID,
    start: datetime,
    end: datetime,
    file_name: str | None,
    body: bytes | None,
) -> dict[str, Any]:
    """Run a reconciliation in this process (its events go out through the outbox) and print the summary."""
    cipher = Cipher(secret_key(settings))
    account = await load_account(settings, cipher, account_id)
    if account is None:
        raise ReconcileRefused(f"no gateway account {account_id}")
    engine = create_engine(settings.database_url, pool_size=4)
    console = Console(file=sys.stderr)
    try:
        run_id = await queue_run(engine, account, start, end, file_name=file_name, file_body=body)
        assert run_id is not None
        reconciler = Reconciler(engine, functools.partial(UnitOfWork, engine, cipher), GatewayRegistry.load(), utc_now)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("reconciling", total=None)

            def advance(counts: dict[str, int]) -> None:
                bar.update(task, description=f"{counts['records']} records, {counts['differences']} differences")

            try:
                await reconciler.run(account.tenant_id, run_id, advance)
            except Exception as exc:
                raise ReconcileRefused(f"reconciliation {run_id} failed: {exc}") from exc
        view = await run_view(engine, account.tenant_id, run_id)
    finally:
        await engine.dispose()
    assert view is not None
    _summary(Console(), view)
    return view


def _summary(console: Console, view: dict[str, Any]) -> None:
    counts = view["counts"]
    table = Table(title=f"reconciliation {view['id']} ({view['gateway']}, {view['source']}): {view['status']}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("records", "matched", "differences", "fixed"):
        table.add_row(name, str(counts.get(name, 0)))
    for kind, number in sorted(counts.get("by_kind", {}).items()):
        table.add_row(f"  {kind}", str(number))
    console.print(table)


def write_csv(path: Path, view: dict[str, Any]) -> None:
    """Every difference of a run, one row each."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "resolution", "transaction_id", "reference", "ours", "theirs"])
        for d in view["differences"]:
            writer.writerow(
                [d["kind"], d["resolution"], d["transaction_id"] or "", d["reference"] or "",
                 json.dumps(d["ours"]) if d["ours"] else "", json.dumps(d["theirs"]) if d["theirs"] else ""]
            )  # fmt: skip
