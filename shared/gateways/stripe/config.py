"""A Stripe gateway account's configuration: its own keys, never the library's global one."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from shared.gateways.base import AccountConfig, GatewayAccount
from shared.gateways.urls import ProviderUrl

DEFAULT_API_BASE = "https://api.stripe.com"


class StripeConfig(AccountConfig):
    secret_fields = frozenset({"api_key", "webhook_secret"})

    api_key: str = Field(min_length=8, max_length=255, pattern=r"^(sk|rk)_")
    webhook_secret: str = Field(min_length=8, max_length=255, pattern=r"^whsec_")
    api_base: ProviderUrl = Field(default=DEFAULT_API_BASE, max_length=500)

    @field_validator("api_base")
    @classmethod
    def _without_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


def config_of(account: GatewayAccount) -> StripeConfig:
    raw: dict[str, Any] = account.config
    return StripeConfig.model_validate(raw)
