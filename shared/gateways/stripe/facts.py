"""Stripe's objects (sessions, invoices, subscriptions, refunds) read into the few facts the billing service keeps.

The one translator from Stripe's wire format: nothing outside this package reads a Stripe object directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from shared.domain.errors import DomainError
from shared.domain.status import TransactionStatus
from shared.gateways.stripe.amounts import AmountNotAccepted, from_stripe


class InvalidStripeObject(ValueError):
    """A payload that is not the Stripe object it claims to be."""


def ref(value: object) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def our_id(*candidates: object) -> uuid.UUID | None:
    """Our uuid from `client_reference_id` or `metadata`, if Stripe carried one back."""
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                return uuid.UUID(candidate)
            except ValueError:
                continue
    return None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _minor(amount: object, currency: object) -> int | None:
    """A Stripe amount in our minor units, or None when it cannot be read as one."""
    value, code = _int(amount), _text(currency)
    if value is None or code is None:
        return None
    try:
        return from_stripe(value, code).minor
    except (AmountNotAccepted, DomainError):
        return None


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class StripeEvent:
    id: str
    type: str
    created: int
    obj: dict[str, Any]
    """`data.object`: the Stripe object the event is about."""

    @classmethod
    def parse(cls, raw: object) -> StripeEvent:
        if not isinstance(raw, dict) or raw.get("object") != "event":
            raise InvalidStripeObject("not a Stripe event")
        data = raw.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        event_id, kind, created = _text(raw.get("id")), _text(raw.get("type")), _int(raw.get("created"))
        if event_id is None or kind is None or created is None or not isinstance(obj, dict):
            raise InvalidStripeObject("a Stripe event needs id, type, created and data.object")
        return cls(event_id, kind, created, obj)


def session_outcome(status: object, payment_status: object) -> TransactionStatus | None:
    """What a Checkout Session's state means for our transaction; None: still waiting for the money."""
    match status, payment_status:
        case "complete", "paid":
            return TransactionStatus.COMPLETED
        case "complete", "no_payment_required":
            # A free trial: the customer agreed but nothing was charged; charges arrive as renewal transactions.
            return TransactionStatus.CANCELED
        case "expired", _:
            return TransactionStatus.EXPIRED
        case _:
            return None  # open, or complete with an asynchronous payment still unpaid


@dataclass(frozen=True, slots=True)
class SessionFacts:
    session_id: str
    transaction_id: uuid.UUID | None
    outcome: TransactionStatus | None
    ids: dict[str, Any]
    """Stripe's ids for this payment: never change once known."""
    state: dict[str, Any]
    """The session's current state (payment_status...): recorded only from a newer report."""

    @classmethod
    def of(cls, session: dict[str, Any]) -> SessionFacts:
        session_id = _text(session.get("id"))
        if session_id is None or session.get("object") not in (None, "checkout.session"):
            raise InvalidStripeObject("not a Checkout Session")
        customer = session.get("customer_details")
        email = customer.get("email") if isinstance(customer, dict) else None
        ids = _compact(
            {
                "session_id": session_id,
                "payment_intent_id": ref(session.get("payment_intent")),
                "customer_id": ref(session.get("customer")),
                "subscription_id": ref(session.get("subscription")),
                "invoice_id": ref(session.get("invoice")),
            }
        )
        state = _compact(
            {
                "payment_status": _text(session.get("payment_status")),
                "amount_total": _minor(session.get("amount_total"), session.get("currency")),
                "customer_email": _text(email) or _text(session.get("customer_email")),
            }
        )
        outcome = session_outcome(session.get("status"), session.get("payment_status"))
        if outcome is TransactionStatus.CANCELED:
            state["cancel_reason"] = "no_payment_required"
        meta = _metadata(session)
        return cls(
            session_id, our_id(session.get("client_reference_id"), meta.get("transaction_id")), outcome, ids, state
        )


def subscription_of_invoice(invoice: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The subscription an invoice bills and that subscription's metadata, in old and new API shapes."""
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    if isinstance(details, dict):
        meta = details.get("metadata")
        return ref(details.get("subscription")), meta if isinstance(meta, dict) else {}
    legacy = invoice.get("subscription_details")
    meta = legacy.get("metadata") if isinstance(legacy, dict) else None
    return ref(invoice.get("subscription")), meta if isinstance(meta, dict) else {}


def payment_of_invoice(invoice: dict[str, Any]) -> dict[str, str]:
    """The PaymentIntent or charge that paid an invoice, where the payload carries it."""
    payments = invoice.get("payments")
    rows = payments.get("data") if isinstance(payments, dict) else None
    for row in rows if isinstance(rows, list) else []:
        payment = row.get("payment") if isinstance(row, dict) else None
        if isinstance(payment, dict) and row.get("status") in (None, "paid"):
            found = _compact(
                {"payment_intent_id": ref(payment.get("payment_intent")), "charge_id": ref(payment.get("charge"))}
            )
            if found:
                return found
    return _compact({"payment_intent_id": ref(invoice.get("payment_intent")), "charge_id": ref(invoice.get("charge"))})


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    invoice_id: str
    subscription_id: str | None
    transaction_id: uuid.UUID | None
    billing_reason: str | None
    amount_paid: int
    amount_due: int
    currency: str
    attempt_count: int
    ids: dict[str, Any]

    def with_ids(self, extra: dict[str, str]) -> InvoiceFacts:
        return replace(self, ids={**self.ids, **extra})

    @property
    def is_first(self) -> bool:
        """The invoice a subscription's own checkout pays (its transaction already exists)."""
        return self.billing_reason == "subscription_create"

    @classmethod
    def of(cls, invoice: dict[str, Any]) -> InvoiceFacts:
        invoice_id, currency = _text(invoice.get("id")), _text(invoice.get("currency"))
        if invoice_id is None or currency is None:
            raise InvalidStripeObject("not an invoice")
        subscription_id, meta = subscription_of_invoice(invoice)
        ids = _compact(
            {
                "invoice_id": invoice_id,
                "subscription_id": subscription_id,
                "customer_id": ref(invoice.get("customer")),
                **payment_of_invoice(invoice),
            }
        )
        return cls(
            invoice_id=invoice_id,
            subscription_id=subscription_id,
            transaction_id=our_id(meta.get("transaction_id")),
            billing_reason=_text(invoice.get("billing_reason")),
            amount_paid=_int(invoice.get("amount_paid")) or 0,
            amount_due=_int(invoice.get("amount_due")) or 0,
            currency=currency.upper(),
            attempt_count=_int(invoice.get("attempt_count")) or 0,
            ids=ids,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionFacts:
    subscription_id: str
    status: str | None
    transaction_id: uuid.UUID | None
    view: dict[str, Any] = field(default_factory=dict)
    """What consumers receive with a subscription.* event."""

    @classmethod
    def of(cls, sub: dict[str, Any]) -> SubscriptionFacts:
        sub_id = _text(sub.get("id"))
        if sub_id is None:
            raise InvalidStripeObject("not a subscription")
        items = sub.get("items")
        rows = items.get("data") if isinstance(items, dict) else None
        prices = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                prices.append({"price_id": ref(row.get("price")), "quantity": _int(row.get("quantity"))})
        status = _text(sub.get("status"))
        view = {
            "id": sub_id,
            "status": status,
            "customer_id": ref(sub.get("customer")),
            "items": prices,
            "trial_end": _int(sub.get("trial_end")),
            "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
            "canceled_at": _int(sub.get("canceled_at")),
            "ended_at": _int(sub.get("ended_at")),
            "created": _int(sub.get("created")),
        }
        return cls(sub_id, status, our_id(_metadata(sub).get("transaction_id")), view)


@dataclass(frozen=True, slots=True)
class RefundFacts:
    refund_id: str
    amount: int
    currency: str
    status: str | None
    payment_intent_id: str | None
    charge_id: str | None
    our_refund_id: uuid.UUID | None
    """Set on refunds we asked for ourselves (our refund id travels in the refund's metadata)."""
    reason: str | None
    failure_reason: str | None

    @classmethod
    def of(cls, refund: dict[str, Any]) -> RefundFacts:
        refund_id, currency, amount = _text(refund.get("id")), _text(refund.get("currency")), _int(refund.get("amount"))
        if refund_id is None or currency is None or amount is None:
            raise InvalidStripeObject("not a refund")
        return cls(
            refund_id=refund_id,
            amount=amount,
            currency=currency.upper(),
            status=_text(refund.get("status")),
            payment_intent_id=ref(refund.get("payment_intent")),
            charge_id=ref(refund.get("charge")),
            our_refund_id=our_id(_metadata(refund).get("refund_id")),
            reason=_text(refund.get("reason")),
            failure_reason=_text(refund.get("failure_reason")),
        )


@dataclass(frozen=True, slots=True)
class ChargeFacts:
    charge_id: str
    payment_intent_id: str | None
    refunds: list[RefundFacts] | None
    """None when the payload leaves the refunds out (API versions since 2022-11-15): ask Stripe for them."""

    @classmethod
    def of(cls, charge: dict[str, Any]) -> ChargeFacts:
        charge_id = _text(charge.get("id"))
        if charge_id is None:
            raise InvalidStripeObject("not a charge")
        listed = charge.get("refunds")
        rows = listed.get("data") if isinstance(listed, dict) else None
        refunds = [RefundFacts.of(r) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else None
        if isinstance(listed, dict) and listed.get("has_more"):
            refunds = None  # a partial list would miss refunds: fetch them all
        return cls(charge_id, ref(charge.get("payment_intent")), refunds)
