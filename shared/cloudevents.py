"""The schema of the events on billing.events: CloudEvents 1.0 structured JSON (see `messages.cloud_event`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RefundView(BaseModel):
    """A refund as the API shows it."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    transaction_id: uuid.UUID
    amount: int = Field(description="minor units of the transaction's currency")
    status: Literal["requested", "succeeded", "failed"]
    reason: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class ReportingView(BaseModel):
    """The transaction in its tenant's reporting currency, converted when the change was made."""

    model_config = ConfigDict(extra="forbid")

    currency: str = Field(min_length=3, max_length=3, description="the tenant's reporting currency")
    amount: int = Field(description="minor units of the reporting currency, rounded half to even")
    rate: str = Field(description="decimal string: reporting-currency units for one unit of the transaction's")
    rate_date: date = Field(description="the date of the rate used: the latest on or before the change's day (UTC)")


class TransactionView(BaseModel):
    """A transaction as the API shows it, at the moment of the change; refund events add the refund."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    tenant_id: uuid.UUID
    account_id: uuid.UUID
    gateway: str
    status: Literal["pending", "completed", "failed", "canceled", "expired", "partially_refunded", "refunded"]
    amount: int = Field(description="minor units (ISO 4217 exponent)")
    refunded_amount: int
    currency: str = Field(min_length=3, max_length=3)
    reporting: ReportingView | None = Field(description="null when no rate of the last 7 days existed")
    details: dict[str, Any]
    metadata: dict[str, Any] = Field(description="metadata.project_id / metadata.stage_id travel in every event")
    payment_url: str | None
    created_at: datetime
    updated_at: datetime
    refund: RefundView | None = None


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 envelope; message_id = `id`, routing key = `type` without `billing.`."""

    model_config = ConfigDict(extra="forbid")

    specversion: Literal["1.0"]
    id: uuid.UUID = Field(description="the event id: one per state change, stable across redeliveries")
    source: Literal["billing"]
    type: str = Field(pattern=r"^billing\.[a-z_]+\.[a-z_]+$")
    time: datetime
    subject: str = Field(description="the transaction id")
    tenantid: uuid.UUID
    datacontenttype: Literal["application/json"]
    data: dict[str, Any]
    traceparent: str | None = Field(
        default=None, description="W3C trace context (CloudEvents distributed tracing extension), when tracing is on"
    )
    tracestate: str | None = None


class TransactionEvent(CloudEvent):
    """A transaction.* or refund.* event: `data` is the transaction (with the refund for refund changes)."""

    data: TransactionView  # type: ignore[assignment]
