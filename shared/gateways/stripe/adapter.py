"""Stripe: Checkout Sessions out (payment and subscription mode), refunds, and status look-ups for the janitor."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, cast

import stripe

from shared.domain.money import Money
from shared.domain.reconciliation import ProviderRecord
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.gateways.base import (
    AccountConfig,
    GatewayAccount,
    PaymentStart,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    RefundOutcome,
    answer_code,
)
from shared.gateways.stripe.amounts import AmountNotAccepted, to_stripe
from shared.gateways.stripe.checkout import InvalidCheckout, checkout_params
from shared.gateways.stripe.client import StripeCalls, bound
from shared.gateways.stripe.config import StripeConfig
from shared.gateways.stripe.facts import RefundFacts, SessionFacts, payment_of_invoice
from shared.gateways.stripe.reconciliation import PAGE_SIZE, REFERENCE_PATHS, StripeStatement
from shared.reconciliation.sources import Ledger, Period

WEBHOOK_TOLERANCE_S = 300


class StripeAdapter:
    name = "stripe"
    config_model: type[AccountConfig] = StripeConfig
    manual_completion = False
    starts_with_provider_call = True
    polls_provider = True

    def __init__(self, calls: StripeCalls | None = None, page_size: int = PAGE_SIZE) -> None:
        self._calls = calls or StripeCalls()
        self._statement = StripeStatement(self._calls, page_size)

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]:
        return {"events": f"/webhooks/stripe/{account_id}"}

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        return None  # the link is the Checkout Session's url, known only once Stripe made it

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart:
        try:
            params = checkout_params(tx)
        except (InvalidCheckout, AmountNotAccepted) as exc:
            raise ProviderRejected(str(exc)) from None
        client = await self._calls.client(account)
        session = await self._calls.call(
            "the checkout session",
            lambda: client.v1.checkout.sessions.create_async(
                params=cast(Any, params), options={"idempotency_key": f"checkout:{tx.id}"}
            ),
        )
        if not session.url:
            raise ProviderRejected(f"Stripe made checkout session {session.id} without a url")
        # Only ids: a webhook may already have recorded the session's later state.
        return PaymentStart(
            payment_url=session.url, details={**SessionFacts.of(session.to_dict()).ids, "url": session.url}
        )

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        session_id = tx.details.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            return ProviderStatus(status=None)
        client = await self._calls.client(account)
        session = await self._calls.call(
            "the checkout session look-up", lambda: client.v1.checkout.sessions.retrieve_async(session_id)
        )
        facts = SessionFacts.of(session.to_dict())
        if facts.outcome is None:
            return ProviderStatus(status=None, details=facts.ids)
        # Stamped with the time we looked: any event created before it is older news.
        observed = {**facts.ids, **facts.state, "stripe_event_created": int(time.time())}
        return ProviderStatus(status=facts.outcome, details=observed)

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        try:
            amount = to_stripe(Money(refund.amount, tx.money.currency))
        except AmountNotAccepted as exc:
            return RefundOutcome(succeeded=False, error=str(exc))
        client = await self._calls.client(account)
        target = await self._refund_target(client, tx)
        params = {**target, "amount": amount, "metadata": {"refund_id": str(refund.id), "transaction_id": str(tx.id)}}
        created = await self._calls.call(
            "the refund",
            lambda: client.v1.refunds.create_async(
                params=cast(Any, params), options={"idempotency_key": f"refund:{refund.id}"}
            ),
        )
        facts = RefundFacts.of(created.to_dict())
        if facts.status in ("pending", "requires_action"):
            # The create answer may be an idempotent replay of an old one: ask for the refund as it is now.
            current = await self._calls.call(
                "the refund look-up", lambda: client.v1.refunds.retrieve_async(facts.refund_id)
            )
            facts = RefundFacts.of(current.to_dict())
        return refund_outcome(facts)

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        return {}

    def reconciliation_records(
        self, account: GatewayAccount, period: Period, ledger: Ledger
    ) -> AsyncIterator[ProviderRecord]:
        """The account's Checkout Sessions of the period (and our renewals' invoices), paged, as our records."""
        return self._statement.records(account, period, ledger)

    def reference_paths(self, account: GatewayAccount) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return REFERENCE_PATHS

    async def charge_refunds(self, account: GatewayAccount, charge_id: str) -> list[RefundFacts]:
        """Every refund of a charge (a `charge.refunded` payload no longer lists them)."""
        client = await self._calls.client(account)
        found: list[RefundFacts] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"charge": charge_id, "limit": 100}
            if after:
                params["starting_after"] = after
            page = await self._calls.call("the refund list", bound(client.v1.refunds.list_async, params))
            found.extend(RefundFacts.of(r.to_dict()) for r in page.data)
            if not page.has_more or not page.data:
                return found
            after = page.data[-1].id

    async def invoice_payment(self, account: GatewayAccount, invoice_id: str) -> dict[str, str]:
        """The PaymentIntent or charge that paid an invoice (an invoice payload no longer names it)."""
        client = await self._calls.client(account)
        page = await self._calls.call(
            "the invoice payments",
            lambda: client.v1.invoice_payments.list_async(params={"invoice": invoice_id, "status": "paid"}),
        )
        return payment_of_invoice({"payments": {"data": [row.to_dict() for row in page.data]}})

    async def _refund_target(self, client: stripe.StripeClient, tx: Transaction) -> dict[str, str]:
        """What Stripe refunds: the payment's PaymentIntent (or charge), found from what the transaction recorded."""
        details = tx.details
        if details.get("payment_intent_id"):
            return {"payment_intent": str(details["payment_intent_id"])}
        if details.get("charge_id"):
            return {"charge": str(details["charge_id"])}
        invoice_id = details.get("invoice_id")
        if not invoice_id and details.get("session_id"):
            session_id = str(details["session_id"])
            session = await self._calls.call(
                "the checkout session look-up", lambda: client.v1.checkout.sessions.retrieve_async(session_id)
            )
            ids = SessionFacts.of(session.to_dict()).ids
            if ids.get("payment_intent_id"):
                return {"payment_intent": str(ids["payment_intent_id"])}
            invoice_id = ids.get("invoice_id")
        if invoice_id:
            invoice = str(invoice_id)
            page = await self._calls.call(
                "the invoice payments",
                lambda: client.v1.invoice_payments.list_async(params={"invoice": invoice, "status": "paid"}),
            )
            paid = payment_of_invoice({"payments": {"data": [row.to_dict() for row in page.data]}})
            if paid.get("payment_intent_id"):
                return {"payment_intent": paid["payment_intent_id"]}
            if paid.get("charge_id"):
                return {"charge": paid["charge_id"]}
        raise ProviderRejected("no Stripe payment is recorded for this transaction, so there is nothing to refund")


def refund_outcome(facts: RefundFacts) -> RefundOutcome:
    """Stripe's refund status as our outcome; a refund still under way is asked about again later."""
    match facts.status:
        case "succeeded":
            return RefundOutcome(succeeded=True, provider_refund_id=facts.refund_id)
        case "failed" | "canceled":
            # Stripe's reason is a code (`expired_or_canceled_card`); anything else is not shown to the tenant.
            why = answer_code(facts.failure_reason) or "no reason given"
            return RefundOutcome(
                succeeded=False, provider_refund_id=facts.refund_id, error=f"Stripe refund {facts.status}: {why}"
            )
        case _:
            raise ProviderUnavailable(f"Stripe refund {facts.refund_id} is still {facts.status}; asking again later")
