"""The Octo adapter: we create payments with prepare_payment, Octo notifies us, refunds and captures are ours."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import httpx

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
    ProviderUnavailable,
    RefundOutcome,
)
from shared.gateways.octo import decisions, reconciliation
from shared.gateways.octo.client import TIMEOUT, OctoClient, unreadable
from shared.gateways.octo.config import OctoConfig
from shared.gateways.octo.payloads import (
    MalformedAnswer,
    OctoPayment,
    accept_request,
    major,
    parse_payment,
    payload_of,
    payment_request,
    raise_for_error,
    refund_request,
)
from shared.gateways.octo.statuses import parse_status, to_transaction_status
from shared.reconciliation.sources import Ledger, Period
from shared.security.egress import guarded_client

log = logging.getLogger(__name__)


class OctoAdapter:
    name = "octo"
    config_model: type[AccountConfig] = OctoConfig
    manual_completion = False
    starts_with_provider_call = True
    polls_provider = True

    def __init__(self, public_url: str | None = None, http: httpx.AsyncClient | None = None) -> None:
        # The registry builds adapters at import, before any settings or event loop exist: both come lazily.
        self._public_url = public_url
        self._http = http
        self._http_loop: asyncio.AbstractEventLoop | None = None

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {"notify": f"/webhooks/octo/{account_id}"}

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        return None  # octo_pay_url comes from prepare_payment

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        return {}

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart:
        config = OctoConfig.model_validate(account.config)
        payment = await self._prepare(account, config, tx)
        if not payment.pay_url:
            raise ProviderUnavailable("Octo's prepare_payment answer has no octo_pay_url")
        details = {
            **payment.details(),
            "shop_id": config.shop_id,
            "shop_transaction_id": str(tx.id),
            "auto_capture": config.auto_capture,
            "test": config.test,
        }
        return PaymentStart(payment_url=payment.pay_url, details=details)

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        """Octo's status check is prepare_payment repeated with the same ids: it returns the same payment."""
        payment = await self._prepare(account, OctoConfig.model_validate(account.config), tx)
        status = None if payment.status is None else to_transaction_status(payment.status)
        return ProviderStatus(status=status, details=payment.details())

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        config = OctoConfig.model_validate(account.config)
        payment_uuid = tx.details.get("octo_payment_uuid")
        if not payment_uuid:
            return RefundOutcome(succeeded=False, error="no Octo payment is recorded for this transaction")
        captured = decisions.partial_capture(tx)
        if captured is not None and tx.refunded_amount + refund.amount > captured:
            # The aggregate knows the authorised amount only; Octo took `captured`: never ask for more back.
            left = max(captured - tx.refunded_amount, 0)
            return RefundOutcome(succeeded=False, error=f"exceeds what Octo captured: {left} left of {captured}")
        body = refund_request(config, str(payment_uuid), str(refund.id), major(refund.amount, tx.currency))
        answer = await self._client(config).post("/refund", body)
        try:
            raise_for_error(answer)
        except MalformedAnswer as exc:
            raise unreadable("/refund", exc) from exc
        data = payload_of(answer)
        provider_id = data.get("refund_id") or data.get("octo_refund_UUID")
        state = str(data.get("status") or "succeeded").strip().lower()  # older answers carry no status
        if state == "succeeded":
            return RefundOutcome(succeeded=True, provider_refund_id=None if provider_id is None else str(provider_id))
        if state in ("failed", "canceled", "cancelled"):
            return RefundOutcome(succeeded=False, error=f"Octo refund {state}")
        # Pending: the refund stays `requested` and is asked about again with the same shop_refund_id.
        raise ProviderUnavailable(f"Octo refund {refund.id} is still {state}")

    def awaits_decision(self, status: TransactionStatus, details: Mapping[str, Any]) -> bool:
        return decisions.awaits_decision(status, details)

    def decide(self, tx: Transaction, capture: bool, amount: int | None) -> dict[str, Any]:
        return decisions.decide(tx, capture, amount)

    def decision_unsent(self, tx: Transaction) -> bool:
        return decisions.decision_unsent(tx)

    async def send_decision(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        """set_accept with our recorded decision (capture, possibly partial, or cancel)."""
        config = OctoConfig.model_validate(account.config)
        accept = str(tx.details[decisions.ACCEPT_STATUS])
        final = decisions.partial_capture(tx)
        amount = None if final is None else major(final, tx.currency)
        body = accept_request(config, str(tx.details["octo_payment_uuid"]), accept, amount)
        try:
            answer = await self._client(config).post("/set_accept", body)
            raise_for_error(answer)
        except ProviderRejected as exc:
            log.warning("Octo refused set_accept", extra={"transaction_id": str(tx.id), "error": str(exc)})
            return ProviderStatus(None, {decisions.ACCEPT_OUTCOME: decisions.REFUSED, "error_note": exc.note[:500]})
        except MalformedAnswer as exc:
            raise unreadable("/set_accept", exc) from exc
        data = payload_of(answer)
        status = parse_status(data.get("status"))
        if status is None:
            return ProviderStatus(None, {decisions.ACCEPT_OUTCOME: decisions.SENT})  # the notify tells the end
        details = {"status": status.value, decisions.ACCEPT_OUTCOME: decisions.SENT}
        return ProviderStatus(to_transaction_status(status), details, captured=final)

    def reconciliation_records(
        self, account: GatewayAccount, period: Period, ledger: Ledger
    ) -> AsyncIterator[ProviderRecord]:
        """Octo's status check for each of our payments of the period (Octo has no statement call)."""
        config = OctoConfig.model_validate(account.config)

        async def status_check(tx: Transaction) -> OctoPayment | None:
            return await self._known_payment(account, config, tx)

        return reconciliation.records(ledger, status_check)

    def reference_paths(self, account: GatewayAccount) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return reconciliation.REFERENCE_PATHS

    async def _prepare(self, account: GatewayAccount, config: OctoConfig, tx: Transaction) -> OctoPayment:
        answer = await self._prepare_answer(account, config, tx)
        return self._payment_of(answer, tx)

    async def _known_payment(self, account: GatewayAccount, config: OctoConfig, tx: Transaction) -> OctoPayment | None:
        """The status check for reconciliation: Octo's error answer means it will not show (does not know) the payment.

        HTTP failures are not answers about the payment: they raise, and the run fails rather than report wrongly.
        """
        answer = await self._prepare_answer(account, config, tx)
        try:
            raise_for_error(answer)
        except ProviderRejected as exc:
            log.warning("Octo refused the status of a payment", extra={"transaction_id": str(tx.id), "error": str(exc)})
            return None
        except MalformedAnswer as exc:
            raise unreadable("/prepare_payment", exc) from exc
        return self._payment_of(answer, tx)

    async def _prepare_answer(self, account: GatewayAccount, config: OctoConfig, tx: Transaction) -> Mapping[str, Any]:
        body = payment_request(config, tx, self._notify_url(account, config))
        return await self._client(config).post("/prepare_payment", body)

    @staticmethod
    def _payment_of(answer: Mapping[str, Any], tx: Transaction) -> OctoPayment:
        try:
            payment = parse_payment(answer)
        except MalformedAnswer as exc:
            raise unreadable("/prepare_payment", exc) from exc
        if payment.shop_transaction_id not in (None, str(tx.id)):
            log.warning(
                "Octo answered about another payment",
                extra={"transaction_id": str(tx.id), "answered": payment.shop_transaction_id},
            )
            raise ProviderUnavailable(f"Octo answered about another payment, not {tx.id}")
        return payment

    def _notify_url(self, account: GatewayAccount, config: OctoConfig) -> str:
        if config.notify_url:
            return config.notify_url
        if self._public_url is None:
            from shared.settings import load_settings  # the running service's BILLING_PUBLIC_URL

            self._public_url = load_settings().public_url
        return self._public_url + self.webhook_paths(account.id)["notify"]

    def _client(self, config: OctoConfig) -> OctoClient:
        loop = asyncio.get_running_loop()
        if self._http is None or (self._http_loop is not None and self._http_loop is not loop):
            # One pooled client per event loop (a worker has one), made on first use, never at import; it dials
            # public addresses only (api_base is the tenant's choice) and follows no redirect.
            self._http = guarded_client(timeout=TIMEOUT)
            self._http_loop = loop
        return OctoClient(self._http, config.api_base)
