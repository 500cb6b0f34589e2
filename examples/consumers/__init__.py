"""Example consumers of billing.events: they read the event contract from the other side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRANSACTION_COMPLETED = "billing.transaction.completed"
TRANSACTION_PARTIALLY_REFUNDED = "billing.transaction.partially_refunded"
TRANSACTION_REFUNDED = "billing.transaction.refunded"
REFUND_SUCCEEDED = "billing.refund.succeeded"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The CloudEvents fields a consumer relies on."""

    id: str
    type: str
    tenant_id: str | None
    data: dict[str, Any]


def envelope(event: dict[str, Any]) -> Envelope:
    """Read an event's envelope, or raise ValueError: a consumer must not half-apply a malformed event."""
    event_id, kind, tenant, data = event.get("id"), event.get("type"), event.get("tenantid"), event.get("data")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("event without an id")
    if not isinstance(kind, str):
        raise ValueError(f"event {event_id} without a type")
    if not isinstance(data, dict):
        raise ValueError(f"event {event_id} without a data object")
    return Envelope(event_id, kind, tenant if isinstance(tenant, str) else None, data)


def minor_units(value: object, what: str) -> int:
    """An amount in minor units; bools and floats are refused, as billing never sends them."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer of minor units, got {value!r}")
    return value
