"""docs/asyncapi.json is what `billing asyncapi` generates from the code, and its event schema fits real events."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from shared.cli.asyncapi import PUBLIC_COMMANDS, render
from shared.cloudevents import TransactionEvent
from shared.domain.events import EventType
from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.messages import cloud_event

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_committed_document_matches_the_code() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/asyncapi.json is stale: regenerate it with `billing asyncapi --out docs/asyncapi.json` and commit it"
    )


def test_document_names_every_command_and_event_channel() -> None:
    document = json.loads(COMMITTED.read_text())
    assert document["asyncapi"].startswith("3.")
    channels = document["channels"]
    for key in PUBLIC_COMMANDS:
        assert channels[f"billing.commands:{key}"]["address"] == key
    for kind in EventType:
        channel = channels[f"billing.events:{kind.value}"]
        assert channel["address"] == kind.value
    create = document["components"]["schemas"]["CreateTransactionMessage"]
    assert {"command_id", "tenant_id", "gateway", "amount", "currency"} <= set(create["required"])
    event = document["components"]["schemas"]["TransactionEvent"]
    assert {"specversion", "id", "source", "type", "time", "subject", "tenantid", "data"} <= set(event["required"])


def test_cli_writes_the_same_document(tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.json"
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "asyncapi", "--out", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == COMMITTED.read_text()


def test_the_event_schema_accepts_the_envelopes_the_outbox_writes() -> None:
    """The models are extra="forbid": a field the code adds and the schema lacks fails here."""
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="cash",
        money=Money.of(150_000, "UZS"),
        details={"data": {"n": 1}},
        metadata={"project_id": "p-1"},
        at=NOW,
    )
    tx.complete(NOW)
    tx.request_refund(refund_id=uuid.uuid4(), amount=50_000, reason="damaged", in_flight=0, at=NOW)
    kinds = []
    for change in tx.changes:
        envelope = TransactionEvent.model_validate(cloud_event(change.event, NOW))
        kinds.append(envelope.type)
        assert envelope.data.id == tx.id and envelope.subject == str(tx.id)
    assert kinds == ["billing.transaction.created", "billing.transaction.completed", "billing.refund.requested"]
    refund_event = TransactionEvent.model_validate(cloud_event(tx.changes[-1].event, NOW))
    assert refund_event.data.refund is not None and refund_event.data.refund.amount == 50_000
