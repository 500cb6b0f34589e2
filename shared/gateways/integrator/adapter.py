"""Custom integrators: they call our signed webhook with a status; we hold no API of theirs."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from shared.domain.money import Money
from shared.gateways.base import AccountConfig, GatewayAccount
from shared.gateways.manual import ManualGateway


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
    payment_url: str | None = Field(default=None, description="template with {transaction_id}, {amount}, {currency}")


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
        return str(template).format(transaction_id=transaction_id, amount=money.minor, currency=money.currency.code)
