"""Message contracts on the broker: commands in (billing.commands) and CloudEvents out (billing.events)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

from shared.domain.events import DomainEvent
from shared.security.pan import mask_pans
from shared.storable import DETAILS_MAX_BYTES, METADATA_MAX_BYTES, capped, refuse_nul

COMMANDS_EXCHANGE = "billing.commands"
EVENTS_EXCHANGE = "billing.events"
REQUEST_ID_HEADER = "x-request-id"
"""The HTTP request that sent a command (its X-Request-ID), as an AMQP header: the workers log it."""
TRANSACTION_NAMESPACE = uuid.UUID("5b1f3a2e-9c41-4e07-8a61-2f0d6c3e7b19")


class CommandMessage(BaseModel):
    """A command on billing.commands; each type names the routing key it travels under."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    routing_key: ClassVar[str]
    public: ClassVar[bool] = False
    """Upstream modules may publish it (contract.md); the others are the ingress' own."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        """A command PostgreSQL could never store is invalid at once (parked, not retried); card numbers in it
        are masked before any handler sees them, so none is stored, published or logged."""
        if not isinstance(value, str | dict | list):
            return value  # ids, numbers and times hold neither a NUL nor a card number
        return mask_pans(refuse_nul(value), info.field_name)

    command_id: str = Field(min_length=1, max_length=200)
    tenant_id: uuid.UUID
    actor: str = Field(default="upstream", max_length=200)


class CreateTransactionMessage(CommandMessage):
    routing_key: ClassVar[str] = "transaction.create"
    public: ClassVar[bool] = True
    transaction_id: uuid.UUID | None = None
    gateway: str = Field(min_length=1, max_length=64)
    account_id: uuid.UUID | None = None
    amount: StrictInt
    currency: str
    details: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    requested_at: datetime | None = None

    @field_validator("details")
    @classmethod
    def _details_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return capped(value, DETAILS_MAX_BYTES)

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return capped(value, METADATA_MAX_BYTES)

    def resolved_transaction_id(self) -> uuid.UUID:
        """Upstream senders may omit the id: it is derived from the command id, so a resend makes no twin."""
        return self.transaction_id or uuid.uuid5(TRANSACTION_NAMESPACE, f"{self.tenant_id}:{self.command_id}")


class CompleteTransactionMessage(CommandMessage):
    routing_key: ClassVar[str] = "transaction.complete"
    public: ClassVar[bool] = True
    transaction_id: uuid.UUID
    amount: StrictInt | None = Field(default=None, gt=0)  # a partial capture of a held payment (two-stage capture)


class CancelTransactionMessage(CommandMessage):
    routing_key: ClassVar[str] = "transaction.cancel"
    public: ClassVar[bool] = True
    transaction_id: uuid.UUID
    reason: str | None = Field(default=None, max_length=500)


class DeleteTransactionMessage(CommandMessage):
    routing_key: ClassVar[str] = "transaction.delete"
    transaction_id: uuid.UUID


class RequestRefundMessage(CommandMessage):
    routing_key: ClassVar[str] = "refund.request"
    public: ClassVar[bool] = True
    transaction_id: uuid.UUID
    refund_id: uuid.UUID | None = None
    amount: StrictInt | None = None
    reason: str | None = Field(default=None, max_length=500)
    requested_at: datetime | None = None

    def resolved_refund_id(self) -> uuid.UUID:
        return self.refund_id or uuid.uuid5(TRANSACTION_NAMESPACE, f"refund:{self.tenant_id}:{self.command_id}")


class RunReconciliationMessage(CommandMessage):
    routing_key: ClassVar[str] = "reconciliation.run"
    reconciliation_id: uuid.UUID


PROCESSOR_COMMANDS: tuple[type[CommandMessage], ...] = (
    CreateTransactionMessage,
    CompleteTransactionMessage,
    CancelTransactionMessage,
    DeleteTransactionMessage,
    RunReconciliationMessage,
)
"""The processor's own commands; a gateway's commands travel under `gateway.<name>.<what>`."""
REFUNDS_COMMANDS: tuple[type[CommandMessage], ...] = (RequestRefundMessage,)
GATEWAY_COMMANDS = "gateway.#"
"""The routing-key pattern of every gateway's own commands (consumed by the processor)."""


def cloud_event(event: DomainEvent, at: datetime | None = None) -> dict[str, Any]:
    """The CloudEvents 1.0 structured envelope of a domain event."""
    moment = at or datetime.now(UTC)
    return {
        "specversion": "1.0",
        "id": str(event.id),
        "source": "billing",
        "type": f"billing.{event.type.value}",
        "time": moment.isoformat().replace("+00:00", "Z"),
        "subject": str(event.subject),
        "tenantid": str(event.tenant_id),
        "datacontenttype": "application/json",
        "data": event.data,
    }
