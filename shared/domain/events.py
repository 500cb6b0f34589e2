"""Domain events, named in the past tense; the unit of work turns them into outbox rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    TRANSACTION_CREATED = "transaction.created"
    TRANSACTION_COMPLETED = "transaction.completed"
    TRANSACTION_FAILED = "transaction.failed"
    TRANSACTION_CANCELED = "transaction.canceled"
    TRANSACTION_EXPIRED = "transaction.expired"
    TRANSACTION_PARTIALLY_REFUNDED = "transaction.partially_refunded"
    TRANSACTION_REFUNDED = "transaction.refunded"
    TRANSACTION_UPDATED = "transaction.updated"
    TRANSACTION_DELETED = "transaction.deleted"
    REFUND_REQUESTED = "refund.requested"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_UPDATED = "subscription.updated"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    RECONCILIATION_MISMATCH = "reconciliation.mismatch"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"

    @property
    def routing_key(self) -> str:
        """The key its events travel under on billing.events (the CloudEvents type less `billing.`)."""
        return self.value


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened to one transaction; `data` is its view at that moment."""

    type: EventType
    tenant_id: uuid.UUID
    subject: uuid.UUID
    data: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
