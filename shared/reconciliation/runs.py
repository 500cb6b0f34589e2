"""Reconciliation runs as records: queued by the API, the CLI or the nightly schedule; shown with differences."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.domain.transaction import rfc3339
from shared.gateways.base import GatewayAccount
from shared.persistence.reconciliations import ReconciliationStore


async def queue_run(
    engine: AsyncEngine,
    account: GatewayAccount,
    start: datetime,
    end: datetime,
    *,
    file_name: str | None = None,
    file_body: bytes | None = None,
    nightly: bool = False,
    apply_fixes: bool = True,
) -> uuid.UUID | None:
    """Record a queued run; None when the nightly run of that period is already recorded (another replica).

    `apply_fixes=False`: the run lists what it finds for a person and changes no transaction.
    """
    run_id = uuid.uuid4()
    queued = await ReconciliationStore(engine).queue(
        {
            "id": run_id,
            "tenant_id": account.tenant_id,
            "account_id": account.id,
            "gateway": account.gateway,
            "source": "file" if file_body is not None else "api",
            "period_from": start,
            "period_to": end,
            "status": "queued",
            "file_name": file_name,
            "file_body": file_body,
            "nightly": 1 if nightly else 0,
            "apply_fixes": apply_fixes,
        }
    )
    return run_id if queued else None


async def run_view(engine: AsyncEngine, tenant_id: uuid.UUID, run_id: uuid.UUID) -> dict[str, Any] | None:
    """A run as the API shows it: progress, counts and every difference."""
    found = await ReconciliationStore(engine).find(tenant_id, run_id)
    if found is None:
        return None
    row, differences = found
    return {
        "id": str(row["id"]),
        "account_id": str(row["account_id"]),
        "gateway": row["gateway"],
        "source": row["source"],
        "file_name": row["file_name"],
        "from": rfc3339(row["period_from"]),
        "to": rfc3339(row["period_to"]),
        "status": row["status"],
        "applies_fixes": row["apply_fixes"],
        "counts": row["counts"],
        "error": row["error"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
        "completed_at": None if row["completed_at"] is None else rfc3339(row["completed_at"]),
        "differences": [
            {
                "kind": d["kind"],
                "resolution": d["resolution"],
                "transaction_id": None if d["transaction_id"] is None else str(d["transaction_id"]),
                "reference": d["reference"],
                "ours": d["ours"],
                "theirs": d["theirs"],
            }
            for d in differences
        ],
    }
