"""What gateways without a provider API share: a person, or an integrator's callback, settles the payment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, PaymentStart, ProviderStatus, RefundOutcome


class ManualGateway:
    """Completed by the `complete` command or a callback; nothing to call, refunds are paid out by hand."""

    manual_completion = True
    starts_with_provider_call = False
    polls_provider = False

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {}

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        return None

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart:
        return PaymentStart()

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        return RefundOutcome(succeeded=True)

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        return ProviderStatus(status=tx.status)

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        return {}
