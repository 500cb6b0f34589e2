"""A Payme account's settings, validated when the account is added or changed."""

from __future__ import annotations

from pydantic import Field

from shared.gateways.base import AccountConfig
from shared.gateways.urls import LinkUrl

CURRENCY = "UZS"  # Payme pays in sum only; amounts travel in tiyin, our minor unit


class PaymeConfig(AccountConfig):
    secret_fields = frozenset({"key", "test_key"})

    merchant_id: str = Field(min_length=1, max_length=100)
    key: str = Field(min_length=1, max_length=512)
    test_key: str | None = Field(default=None, min_length=1, max_length=512)
    sandbox: bool = Field(
        default=False, description="true: test_key authenticates too (Payme's sandbox); false: only the live key"
    )
    account_field: str = Field(default="order_id", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    one_time: bool = True
    checkout_url: LinkUrl = Field(default="https://checkout.paycom.uz", pattern=r"^https?://\S+$")
    fiscal_required: bool = Field(
        default=False, description="refuse a payment without details.receipt (every sale needs a fiscal receipt)"
    )
    allow_cancel_after_perform: bool = Field(
        default=True, description="false: CancelTransaction of a performed payment is refused with -31007"
    )
