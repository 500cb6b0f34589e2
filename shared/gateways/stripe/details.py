"""The typed details of a Stripe transaction: what its creator may set and what Stripe reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.details import GatewayDetails


@dataclass(frozen=True)
class StripeDetails(GatewayDetails):
    gateway: ClassVar[str] = "stripe"
    references: ClassVar[tuple[str, ...]] = ("session_id", "payment_intent_id", "subscription_id")
    creator_fields: ClassVar[frozenset[str] | None] = frozenset(
        {
            "mode",
            "items",
            "success_url",
            "cancel_url",
            "customer_id",
            "customer_email",
            "trial_period_days",
            "description",
        }
    )
    mode: str | None = None
    session_id: str | None = None
    subscription_id: str | None = None
    customer_id: str | None = None
    customer_email: str | None = None
    invoice_id: str | None = None
    payment_intent_id: str | None = None
    items: list[Any] | None = None
    trial_period_days: int | None = None
    success_url: str | None = None
    cancel_url: str | None = None
    url: str | None = None
    description: str | None = None
    charge_id: str | None = None
    payment_status: str | None = None
    amount_total: int | None = None
    billing_reason: str | None = None
    parent_transaction_id: str | None = None
    subscription_status: str | None = None
    stripe_event_created: int | None = None
    subscription_event_created: int | None = None
    error_note: str | None = None
    cancel_reason: str | None = None
