"""A refund is its own record: requested, then succeeded or failed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain.status import RefundStatus


@dataclass
class Refund:
    id: uuid.UUID
    tenant_id: uuid.UUID
    transaction_id: uuid.UUID
    amount: int
    status: RefundStatus
    reason: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    provider_refund_id: str | None = None

    def succeed(self, at: datetime, provider_refund_id: str | None = None) -> None:
        self.status = RefundStatus.SUCCEEDED
        self.provider_refund_id = provider_refund_id or self.provider_refund_id
        self.updated_at = at

    def fail(self, error: str, at: datetime) -> None:
        self.status = RefundStatus.FAILED
        self.error = error
        self.updated_at = at

    def view(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "transaction_id": str(self.transaction_id),
            "amount": self.amount,
            "status": self.status.value,
            "reason": self.reason,
            "error": self.error,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
        }
