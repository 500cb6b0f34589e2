"""A Click merchant account: SHOP API credentials and where its Merchant API lives."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.gateways.base import AccountConfig
from shared.gateways.urls import LinkUrl, ProviderUrl

PRODUCTION_API = "https://api.click.uz/v2/merchant/"


class ClickConfig(AccountConfig):
    secret_fields = frozenset({"secret_key"})

    service_id: int = Field(ge=1)
    merchant_id: int = Field(ge=1)
    merchant_user_id: int = Field(ge=1)
    secret_key: str = Field(min_length=1, max_length=256)
    api_base: ProviderUrl = Field(default=PRODUCTION_API, max_length=500)
    return_url: LinkUrl | None = Field(default=None, max_length=2000)
    fiscal_required: bool = False
    """Refuse a payment without `details.receipt` (every sale needs a fiscal receipt)."""
    tin: str | None = Field(default=None, pattern=r"^[0-9]{9}$")
    """The merchant's TIN for the receipt items' CommissionInfo (or `pinfl`)."""
    pinfl: str | None = Field(default=None, pattern=r"^[0-9]{14}$")

    @field_validator("api_base")
    @classmethod
    def _with_trailing_slash(cls, value: str) -> str:
        # Relative paths are joined onto the base: without the slash httpx would drop its last segment.
        return value if value.endswith("/") else f"{value}/"
