"""An Octo gateway account's configuration (contract.md, `billing gateway add --gateway octo`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, field_validator

from shared.gateways.base import AccountConfig
from shared.gateways.urls import LinkUrl, ProviderUrl

PRODUCTION_API = "https://secure.octo.uz"


class OctoConfig(AccountConfig):
    secret_fields = frozenset({"secret", "unique_key"})

    shop_id: StrictInt = Field(gt=0)
    secret: str = Field(min_length=1, max_length=512)
    unique_key: str = Field(min_length=1, max_length=512, description="verifies Octo's notifications")
    auto_capture: StrictBool = True
    capture_on_notify: StrictBool = Field(
        default=True,
        description="with auto_capture false: answer Octo's waiting_for_capture notify with a capture at once; "
        "false keeps the payment held until `complete` (capture) or `cancel` (release)",
    )
    test: StrictBool = False
    api_base: ProviderUrl = Field(default=PRODUCTION_API, max_length=500)
    language: Literal["uz", "ru", "en"] | None = None
    ttl: StrictInt | None = Field(default=None, ge=1, le=60 * 24 * 30, description="minutes the payment stays open")
    return_url: LinkUrl | None = Field(default=None, max_length=2000)
    notify_url: LinkUrl | None = Field(
        default=None, max_length=2000, description="overrides BILLING_PUBLIC_URL + this account's webhook path"
    )

    @field_validator("api_base", "return_url", "notify_url")
    @classmethod
    def _without_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None
