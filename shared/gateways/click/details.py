"""The typed details of a Click transaction: what its creator may set and what Click reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.details import GatewayDetails


@dataclass(frozen=True)
class ClickDetails(GatewayDetails):
    gateway: ClassVar[str] = "click"
    references: ClassVar[tuple[str, ...]] = ("click_trans_id", "merchant_trans_id")
    creator_fields: ClassVar[frozenset[str] | None] = frozenset({"merchant_trans_id", "return_url", "receipt"})
    receipt_title_limit: ClassVar[int | None] = 63
    service_id: int | None = None
    merchant_id: int | None = None
    merchant_trans_id: str | None = None
    merchant_prepare_id: int | None = None
    merchant_confirm_id: int | None = None
    click_trans_id: int | None = None
    click_paydoc_id: int | None = None
    payment_status: int | None = None
    sign_time: str | None = None
    error_code: int | None = None
    error_note: str | None = None
    return_url: str | None = None
    receipt: dict[str, Any] | None = None
    """The fiscal receipt's items (shared/domain/receipt.py), checked against the amount at creation."""
    link: str | None = None
    fiscal: dict[str, Any] | None = None
    """The receipt's submission to Click's OFD endpoint: `status` pending, submitted or failed, and Click's answer."""
