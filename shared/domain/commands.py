"""Commands: what a caller asks the billing service to do (imperative names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Command:
    command_id: str
    tenant_id: uuid.UUID
    actor: str


@dataclass(frozen=True, slots=True)
class CreateTransaction(Command):
    transaction_id: uuid.UUID
    gateway: str
    account_id: uuid.UUID | None
    amount: int
    currency: str
    details: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    requested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CompleteTransaction(Command):
    transaction_id: uuid.UUID
    amount: int | None = None  # a held payment (two-stage capture): capture this much, in minor units


@dataclass(frozen=True, slots=True)
class CancelTransaction(Command):
    transaction_id: uuid.UUID
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteTransaction(Command):
    transaction_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RequestRefund(Command):
    transaction_id: uuid.UUID
    refund_id: uuid.UUID
    amount: int | None = None
    reason: str | None = None
    requested_at: datetime | None = None
