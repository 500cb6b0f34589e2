"""The typed details of a Payme transaction: what its creator may set and what Payme reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.details import GatewayDetails


@dataclass(frozen=True)
class PaymeDetails(GatewayDetails):
    gateway: ClassVar[str] = "payme"
    references: ClassVar[tuple[str, ...]] = ("payme_id",)
    creator_fields: ClassVar[frozenset[str] | None] = frozenset({"account", "return_url", "language", "receipt"})
    receipt_title_limit: ClassVar[int | None] = 255
    merchant_id: str | None = None
    payme_id: str | None = None
    transaction_ref: str | None = None
    state: int | None = None
    payme_time: int | None = None
    create_time: int | None = None
    perform_time: int | None = None
    cancel_time: int | None = None
    account: dict[str, Any] | None = None
    receivers: list[Any] | None = None
    reason: int | None = None
    fiscal_data: dict[str, Any] | None = None
    return_url: str | None = None
    receipt: dict[str, Any] | None = None
    """The fiscal receipt's items (shared/domain/receipt.py), checked against the amount at creation."""
    language: str | None = None
    link: str | None = None
    repeat_of: str | None = None  # a repeat payment of this order (accounts with one_time false)
