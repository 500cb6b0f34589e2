"""The typed details of an Octo transaction: what its creator may set and what Octo reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.details import GatewayDetails


@dataclass(frozen=True)
class OctoDetails(GatewayDetails):
    gateway: ClassVar[str] = "octo"
    references: ClassVar[tuple[str, ...]] = ("octo_payment_uuid",)
    creator_fields: ClassVar[frozenset[str] | None] = frozenset(
        {"description", "return_url", "user_data", "basket", "language", "payment_methods", "ttl"}
    )
    shop_id: int | None = None
    shop_transaction_id: str | None = None
    octo_payment_uuid: str | None = None
    auto_capture: bool | None = None
    test: bool | None = None
    status: str | None = None
    card_type: str | None = None
    card_country: str | None = None
    masked_pan: str | None = None
    rrn: str | None = None
    risk_level: int | None = None
    refunded_sum: str | None = None
    transfer_sum: str | None = None
    total_sum: str | None = None
    payed_time: str | None = None
    card_vendor: str | None = None
    is_physical_card: bool | None = None
    error_note: str | None = None
    notified_statuses: list[str] | None = None
    """The statuses of this payment's notifies already applied: a replay of one is answered, not re-applied."""
    # Our capture decision (accept_status, final_amount, accept_outcome) is kept in details too, but is
    # deliberately not a field here: parse_details refuses it as input, so no creator can pre-set a capture.
    pay_url: str | None = None
    description: str | None = None
    return_url: str | None = None
    user_data: dict[str, Any] | None = None
    basket: list[Any] | None = None
    language: str | None = None
    payment_methods: list[Any] | None = None
    ttl: int | None = None
