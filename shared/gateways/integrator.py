"""Custom integrators: they call our signed webhook with a status; we hold no API of theirs."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.gateways.base import AccountConfig, GatewayAccount, PaymentStart, ProviderStatus, RefundOutcome

SIGNATURE_HEADER = "X-Billing-Signature"


class IntegratorConfig(AccountConfig):
    secret_fields = frozenset({"secret"})

    secret: str = Field(min_length=16, max_length=512)
    name: str = Field(min_length=1, max_length=200)
    payment_url: str | None = Field(default=None, description="template with {transaction_id}, {amount}, {currency}")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip().lower())


class IntegratorAdapter:
    name = "integrator"
    config_model: type[AccountConfig] = IntegratorConfig
    manual_completion = True
    starts_with_provider_call = False
    polls_provider = False

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {"status": f"/webhooks/integrator/{account_id}"}

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        template = account.config.get("payment_url")
        if not template:
            return None
        return str(template).format(transaction_id=transaction_id, amount=money.minor, currency=money.currency.code)

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart:
        return PaymentStart()

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        return RefundOutcome(succeeded=True)

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        return ProviderStatus(status=tx.status)

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        return {}


ADAPTER = IntegratorAdapter()
