"""Custom integrators: they call our signed webhook with a status; we hold no API of theirs."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from shared.domain.money import Money
from shared.gateways.base import AccountConfig, GatewayAccount
from shared.gateways.manual import ManualGateway
from shared.gateways.urls import LinkUrl

PLACEHOLDERS = ("{transaction_id}", "{amount}", "{currency}")


class IntegratorConfig(AccountConfig):
    secret_fields = frozenset({"secret", "previous_secret"})

    secret: str = Field(min_length=16, max_length=512)
    previous_secret: str | None = Field(
        default=None, min_length=16, max_length=512, description="also accepted while set (secret rotation)"
    )
    signature: Literal["v1", "legacy"] = Field(
        default="v1", description="v1: t=<unix>,v1=<HMAC of '<t>.<body>'>; legacy: sha256=<HMAC of the body>"
    )
    name: str = Field(min_length=1, max_length=200)
    payment_url: LinkUrl | None = Field(
        default=None, max_length=2000, description="template with {transaction_id}, {amount}, {currency}"
    )

    @field_validator("payment_url")
    @classmethod
    def _known_placeholders_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        rest = value
        for placeholder in PLACEHOLDERS:
            rest = rest.replace(placeholder, "")
        if "{" in rest or "}" in rest:
            raise ValueError("may use only the placeholders {transaction_id}, {amount} and {currency}")
        return value


def render_payment_url(template: str, transaction_id: uuid.UUID, money: Money) -> str:
    """The payment link: the known placeholders replaced literally, any other text left as it is.

    Never str.format: a format field can read an object's attributes (and through them the environment).
    """
    values = (str(transaction_id), str(money.minor), money.currency.code)
    link = template
    for placeholder, value in zip(PLACEHOLDERS, values, strict=True):
        link = link.replace(placeholder, value)  # the values hold no braces, so no placeholder can appear anew
    return link


class IntegratorAdapter(ManualGateway):
    name = "integrator"
    config_model: type[AccountConfig] = IntegratorConfig

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {"status": f"/webhooks/integrator/{account_id}"}

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        template = account.config.get("payment_url")
        if not template:
            return None
        return render_payment_url(str(template), transaction_id, money)
