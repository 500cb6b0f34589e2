"""The Payme adapter: checkout link and expiry facts; Payme calls us, so there is no client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.gateways.base import AccountConfig, GatewayAccount, PaymentStart, ProviderStatus, RefundOutcome
from shared.gateways.payme import records
from shared.gateways.payme.config import CURRENCY, PaymeConfig
from shared.gateways.payme.link import checkout_link


def account_value(field: str, transaction_id: uuid.UUID, details: dict[str, Any]) -> str:
    """What Payme will send in `account.<field>`: the creator's value, else our transaction id."""
    account = details.get("account")
    if isinstance(account, dict) and account.get(field) not in (None, ""):
        return str(account[field])
    return str(transaction_id)


class PaymeAdapter:
    name = "payme"
    config_model: type[AccountConfig] = PaymeConfig
    manual_completion = False
    starts_with_provider_call = False
    polls_provider = False  # the Merchant API has no status call for us; Payme tells us everything

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {"merchant_api": f"/webhooks/payme/{account_id}"}

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        if money.currency.code != CURRENCY:
            return None  # Payme cannot take this payment; the order is refused as not payable, too
        config = PaymeConfig.model_validate(account.config)
        language = details.get("language")
        return_url = details.get("return_url")
        return checkout_link(
            config.checkout_url,
            config.merchant_id,
            config.account_field,
            account_value(config.account_field, transaction_id, details),
            money.minor,
            return_url if isinstance(return_url, str) else None,
            language if isinstance(language, str) else None,
        )

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart:
        return PaymentStart(payment_url=self.payment_link(account, tx.id, tx.money, tx.details))

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        # Unreachable through the API (the ingress refuses Payme refunds); a refund only ever comes from
        # Payme's CancelTransaction, which the processor settles itself.
        return RefundOutcome(
            succeeded=False, error="Payme refunds are made by Payme (CancelTransaction); we cannot start one"
        )

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        return ProviderStatus(status=None)

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        """A forgotten Payme transaction in state 1 ends as Payme's timeout: state -1, reason 4."""
        if records.state(tx) != records.CREATED:
            return {}
        return records.canceled(records.to_ms(at), records.CANCELED, records.REASON_TIMEOUT)
