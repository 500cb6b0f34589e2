"""The Click adapter: pay links we build, payment status for the janitor, full reversal as our refund."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from shared.domain.money import Money
from shared.domain.reconciliation import ProviderRecord
from shared.domain.refund import Refund
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import (
    AccountConfig,
    GatewayAccount,
    PaymentStart,
    ProviderRejected,
    ProviderStatus,
    RefundOutcome,
)
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.merchant_api import MerchantAnswer, MerchantApi
from shared.gateways.click.rules import CLICK_CURRENCY
from shared.reconciliation.sources import Ledger, Period

log = logging.getLogger(__name__)
PAY_URL = "https://my.click.uz/services/pay"
PAYMENT_SUCCESSFUL = 2
PAYMENT_IN_PROGRESS = frozenset({0, 1})  # created, processing


def config_of(account: GatewayAccount) -> ClickConfig:
    return ClickConfig.model_validate(account.config)


def merchant_trans_id(transaction_id: uuid.UUID, details: dict[str, Any]) -> str:
    """The order reference Click sends back as `merchant_trans_id`: the creator's, else our transaction id."""
    given = details.get("merchant_trans_id")
    return str(given) if given else str(transaction_id)


def payment_id_of(tx: Transaction) -> int | None:
    """The id the Merchant API calls `payment_id`.

    Click's pages call both `click_paydoc_id` ("Payment ID in CLICK system", the one in the payer's SMS) and
    `click_trans_id` (one attempt) a payment id; we take `click_paydoc_id`. This is the one place to change it.
    """
    value = tx.details.get("click_paydoc_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def pay_link(config: ClickConfig, money: Money, transaction_param: str, return_url: str | None) -> str | None:
    """Click's pay page for this order; none for other currencies, since Click charges in sum only."""
    if money.currency.code != CLICK_CURRENCY:
        return None
    query: dict[str, str | int] = {
        "service_id": config.service_id,
        "merchant_id": config.merchant_id,
        "amount": money.major_str(),
        "transaction_param": transaction_param,
    }
    if return_url:
        query["return_url"] = return_url
    return f"{PAY_URL}?{urlencode(query)}"


def translate(answer: MerchantAnswer) -> ProviderStatus:
    """Click's payment status in our terms; anything Click cannot tell us changes nothing."""
    status = answer.payment_status
    if answer.error_code != 0 or status is None:
        return ProviderStatus(status=None)
    details: dict[str, Any] = {"payment_status": status}
    if status == PAYMENT_SUCCESSFUL:
        return ProviderStatus(TransactionStatus.COMPLETED, details)
    if status < 0:
        log.info("Click reports a failed payment", extra={"payment_status": status, "error": answer.error_note})
        return ProviderStatus(TransactionStatus.FAILED, {**details, "error_code": status})
    # In progress (0, 1) or a code we do not know: keep waiting rather than guess.
    return ProviderStatus(status=None, details=details)


class ClickAdapter:
    name = "click"
    config_model: type[AccountConfig] = ClickConfig
    manual_completion = False
    starts_with_provider_call = False
    polls_provider = True

    def __init__(self, api: Callable[[ClickConfig], MerchantApi] = MerchantApi) -> None:
        self._api = api

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {
            "prepare": f"/webhooks/click/{account_id}/prepare",
            "complete": f"/webhooks/click/{account_id}/complete",
        }

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        config = config_of(account)
        return_url = details.get("return_url") or config.return_url
        return pay_link(config, money, merchant_trans_id(transaction_id, details), return_url)

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart:
        return PaymentStart()  # Click calls us (Prepare, Complete); nothing to create on its side first

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        """A full reversal; a partial refund is refused before anything is sent."""
        if refund.amount != tx.amount or tx.refunded_amount != 0:
            raise ProviderRejected(
                f"Click refunds only the whole amount by a full reversal; a refund of {refund.amount} "
                f"of {tx.amount} (already refunded {tx.refunded_amount}) is not possible"
            )
        payment_id = payment_id_of(tx)
        if payment_id is None:
            raise ProviderRejected("no Click payment id (click_paydoc_id) is recorded for this transaction")
        api = self._api(config_of(account))
        reversed_ = await api.reversal(payment_id)
        if reversed_.error_code == 0:
            return RefundOutcome(succeeded=True, provider_refund_id=str(reversed_.payment_id or payment_id))
        # A reversal retried after a lost answer is refused although the first one went through: a payment Click
        # now reports as no longer successful was reversed, and the refund is done.
        now = await api.payment_status(payment_id)
        if now.error_code == 0 and now.payment_status is not None and now.payment_status < 0:
            return RefundOutcome(succeeded=True, provider_refund_id=str(payment_id))
        log.warning(
            "Click refused a reversal",
            extra={"refund_id": str(refund.id), "error_code": reversed_.error_code, "error": reversed_.error_note},
        )
        return RefundOutcome(succeeded=False, error=f"Click refused the reversal: error {reversed_.error_code}")

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        payment_id = payment_id_of(tx)
        if payment_id is None:
            return ProviderStatus(status=None)  # never prepared: Click has no payment to ask about
        return translate(await self._api(config_of(account)).payment_status(payment_id))

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        return {}

    def reconciliation_records(
        self, account: GatewayAccount, period: Period, ledger: Ledger
    ) -> AsyncIterator[ProviderRecord]:
        """The Merchant API payment status for each of our payments of the period that reached Click."""
        from shared.gateways.click import reconciliation  # it builds on this module's helpers

        return reconciliation.records(ledger, self._api(config_of(account)).payment_status)

    def reference_paths(self, account: GatewayAccount) -> tuple[tuple[str, ...], tuple[str, ...]]:
        from shared.gateways.click import reconciliation

        return reconciliation.REFERENCE_PATHS
