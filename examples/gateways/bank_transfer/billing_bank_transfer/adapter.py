"""The bank transfer adapter: the payer pays into the merchant's account; the bank tells us, we call nobody."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.gateways.base import AccountConfig, GatewayAccount, PaymentStart, ProviderStatus, RefundOutcome

NAME = "bank_transfer"


class BankTransferConfig(AccountConfig):
    secret_fields = frozenset({"secret"})

    secret: str = Field(min_length=16, max_length=512)
    beneficiary: str = Field(min_length=1, max_length=200)
    account_number: str = Field(min_length=10, max_length=34, pattern=r"^[A-Z0-9]+$")


class BankTransferAdapter:
    name = NAME
    config_model: type[AccountConfig] = BankTransferConfig
    manual_completion = False
    starts_with_provider_call = False
    polls_provider = False

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {"callback": f"/webhooks/{NAME}/{account_id}"}

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        return None  # the payer needs the account number and the reference, not a link

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart:
        return PaymentStart()

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        return RefundOutcome(succeeded=False, error="bank transfers are refunded by a transfer back, outside the API")

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        return ProviderStatus(status=tx.status)

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        return {}
