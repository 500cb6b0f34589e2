"""Stripe as a reconciliation source: what Stripe recorded for one account over a period, streamed page by page.

- Checkout Sessions created in the period (`created[gte]`/`created[lte]`, unix seconds), `limit` per page and
  `starting_after` the last id while `has_more`; each with its PaymentIntent and that intent's latest charge
  expanded, so one call reads a page. A page is yielded before the next one is asked for.
- Refunds (`GET /v1/refunds?payment_intent=`, paged) only for paid payments whose charge shows a refund (or that
  the list cannot tell, as for subscription checkouts, whose payment is found through their invoice); only
  `succeeded` refunds count, as in our ledger.
- Renewal transactions of subscriptions have no session: each paid one of our ledger in the period is compared with
  its invoice (and that invoice's refunds), a few at a time (`shared.reconciliation.per_payment`), so a renewal is
  not reported missing at Stripe.

Every call goes through the account's own client and the retry policy of `StripeCalls`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import stripe

from shared.domain.reconciliation import ProviderRecord
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderRejected
from shared.gateways.stripe.client import StripeCalls, bound
from shared.gateways.stripe.facts import RefundFacts, payment_of_invoice, ref
from shared.gateways.stripe.records import (
    invoice_record,
    is_paid_renewal,
    refund_hint,
    session_record,
    session_was_paid,
)
from shared.reconciliation.per_payment import CONCURRENCY, ask_each
from shared.reconciliation.sources import Ledger, Period

PAGE_SIZE = 100
"""Stripe's largest page."""
SESSION_EXPAND = ["data.payment_intent.latest_charge"]
REFERENCE_PATHS: tuple[tuple[str, ...], tuple[str, ...]] = (("session_id",), ())
"""Stripe's id in our details (the session id); no order reference of ours at Stripe but our id, which the session
carries itself."""

Page = list[dict[str, Any]]


class StripeStatement:
    def __init__(self, calls: StripeCalls, page_size: int = PAGE_SIZE, concurrency: int = CONCURRENCY) -> None:
        self._calls = calls
        self._page_size = page_size
        self._concurrency = concurrency

    async def records(self, account: GatewayAccount, period: Period, ledger: Ledger) -> AsyncIterator[ProviderRecord]:
        client = await self._calls.client(account)
        window = {"created": {"gte": int(period.start.timestamp()), "lte": int(period.end.timestamp())}}
        sessions = client.v1.checkout.sessions.list_async
        async for page in self._pages("the checkout session list", sessions, {**window, "expand": SESSION_EXPAND}):
            for session in page:
                yield session_record(session, await self._session_refunds(client, session))

        async def renewal(tx: Transaction) -> ProviderRecord | None:
            return await self._renewal(client, tx.id, str(tx.details["invoice_id"])) if is_paid_renewal(tx) else None

        async for record in ask_each(ledger.transactions(), renewal, self._concurrency):
            yield record

    async def _pages(
        self, what: str, method: Callable[..., Awaitable[Any]], params: dict[str, Any]
    ) -> AsyncIterator[Page]:
        """Stripe's cursor paging: `limit`, then `starting_after` the last object's id while `has_more`."""
        after: str | None = None
        while True:
            asked = {**params, "limit": self._page_size}
            if after is not None:
                asked["starting_after"] = after
            page = await self._calls.call(what, bound(method, asked))
            rows: Page = [row.to_dict() for row in page.data]
            if rows:
                yield rows
            if not page.has_more or not rows:
                return
            after = str(rows[-1]["id"])

    async def _session_refunds(self, client: stripe.StripeClient, session: dict[str, Any]) -> int:
        """The session's succeeded refunds in Stripe's units; Stripe is asked only when a refund may exist."""
        if not session_was_paid(session) or refund_hint(session) is False:
            return 0
        intent = ref(session.get("payment_intent"))
        if intent is not None:
            return await self._refunded(client, {"payment_intent": intent})
        invoice = ref(session.get("invoice"))
        return await self._invoice_refunds(client, invoice) if invoice else 0

    async def _renewal(
        self, client: stripe.StripeClient, transaction_id: uuid.UUID, invoice_id: str
    ) -> ProviderRecord | None:
        """Our renewal against its invoice; None when Stripe has no such invoice (reported missing there)."""
        try:
            found = await self._calls.call("the invoice look-up", lambda: client.v1.invoices.retrieve_async(invoice_id))
        except ProviderRejected as exc:
            if isinstance(exc.__cause__, stripe.StripeError) and exc.__cause__.http_status == 404:
                return None
            raise
        invoice = found.to_dict()
        refunded = await self._invoice_refunds(client, invoice_id) if invoice.get("status") == "paid" else 0
        return invoice_record(transaction_id, invoice, refunded)

    async def _invoice_refunds(self, client: stripe.StripeClient, invoice_id: str) -> int:
        """Refunds of the payment that paid an invoice (today's invoices name it only in their payments)."""
        page = await self._calls.call(
            "the invoice payments",
            bound(client.v1.invoice_payments.list_async, {"invoice": invoice_id, "status": "paid"}),
        )
        paid = payment_of_invoice({"payments": {"data": [row.to_dict() for row in page.data]}})
        if paid.get("payment_intent_id"):
            return await self._refunded(client, {"payment_intent": paid["payment_intent_id"]})
        if paid.get("charge_id"):
            return await self._refunded(client, {"charge": paid["charge_id"]})
        return 0

    async def _refunded(self, client: stripe.StripeClient, target: dict[str, str]) -> int:
        total = 0
        async for page in self._pages("the refund list", client.v1.refunds.list_async, target):
            total += sum(facts.amount for facts in map(RefundFacts.of, page) if facts.status == "succeeded")
        return total
