"""Stripe's view of one payment as a reconciliation record: our ids, minor units, upper-case currency, our statuses.

Pure: the I/O (paging, refund look-ups) is in `reconciliation.py`. A Checkout Session is read with its PaymentIntent
expanded (`expand[]=data.payment_intent.latest_charge`); a renewal is read from its invoice.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.domain.errors import DomainError
from shared.domain.reconciliation import ProviderRecord
from shared.domain.status import TransactionStatus as S
from shared.domain.transaction import Transaction
from shared.gateways.stripe.amounts import AmountNotAccepted, from_stripe
from shared.gateways.stripe.facts import InvalidStripeObject, SessionFacts, ref

# A PaymentIntent behind a completed but unpaid session: still under way, or the payment failed.
_INTENT_UNDER_WAY = frozenset({"processing", "requires_action", "requires_confirmation", "requires_capture"})
_INTENT_FAILED = frozenset({"requires_payment_method", "canceled"})
_INVOICE_STATUS = {
    "paid": S.COMPLETED,
    "open": S.PENDING,
    "draft": S.PENDING,
    "uncollectible": S.FAILED,
    "void": S.CANCELED,
}


def minor(amount: object, currency: object) -> int | None:
    """A Stripe amount in our minor units; None when it cannot be read as one."""
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str) or not currency:
        return None
    try:
        return from_stripe(amount, currency).minor
    except (AmountNotAccepted, DomainError):
        return None


def intent_status(intent: object) -> S | None:
    """A PaymentIntent's status in ours; None when it is not at hand (not expanded, or no intent at all)."""
    status = intent.get("status") if isinstance(intent, dict) else None
    if status == "succeeded":
        return S.COMPLETED
    if status in _INTENT_UNDER_WAY:
        return S.PENDING
    if status in _INTENT_FAILED:
        return S.FAILED
    return None


def session_status(session: dict[str, Any]) -> S | None:
    """A session's payment in our statuses, before refunds; None when Stripe's answer cannot tell."""
    match session.get("status"), session.get("payment_status"):
        case "complete", "paid":
            return S.COMPLETED
        case "complete", "no_payment_required":
            return S.CANCELED  # a free trial or a full discount: nothing was charged (as the webhook records it)
        case "complete", _:
            # Unpaid: an asynchronous payment still on its way, or one that failed; the PaymentIntent says which.
            return intent_status(session.get("payment_intent"))
        case "expired", _:
            return S.EXPIRED
        case "open", _:
            return S.PENDING
        case _:
            return None


def session_was_paid(session: dict[str, Any]) -> bool:
    return session_status(session) is S.COMPLETED


def refund_hint(session: dict[str, Any]) -> bool | None:
    """Whether the session's charge shows a refund (False: none, no need to ask); None when the list cannot tell."""
    intent = session.get("payment_intent")
    charge = intent.get("latest_charge") if isinstance(intent, dict) else None
    refunded = charge.get("amount_refunded") if isinstance(charge, dict) else None
    if isinstance(refunded, int) and not isinstance(refunded, bool):
        return refunded > 0
    return None


def with_refunds(status: S | None, amount: int | None, refunded: int | None) -> S | None:
    """A paid payment's status once its refunds are counted: partially or fully refunded."""
    if status is not S.COMPLETED or not refunded:
        return status
    return S.REFUNDED if amount is not None and refunded >= amount else S.PARTIALLY_REFUNDED


def session_record(session: dict[str, Any], refunded: int) -> ProviderRecord:
    """One Checkout Session as a record; `refunded` is the sum of its succeeded refunds in Stripe's units."""
    facts = SessionFacts.of(session)
    currency = session.get("currency")
    status = session_status(session)
    # A free trial's or full discount's total is not the price we asked for; nothing moved, so nothing to compare.
    amount = None if status is S.CANCELED else minor(session.get("amount_total"), currency)
    refunded_minor = _refunded(status, refunded, currency)
    return ProviderRecord(
        reference=facts.session_id,
        transaction_id=facts.transaction_id,
        amount=amount,
        refunded_amount=refunded_minor,
        currency=currency.upper() if isinstance(currency, str) and currency else None,
        status=with_refunds(status, amount, refunded_minor),
    )


def is_paid_renewal(tx: Transaction) -> bool:
    """A paid transaction made from a subscription's renewal invoice: it has an invoice and no Checkout Session."""
    return tx.status.was_paid() and not tx.details.get("session_id") and bool(tx.details.get("invoice_id"))


def invoice_record(transaction_id: uuid.UUID, invoice: dict[str, Any], refunded: int) -> ProviderRecord:
    """A renewal's invoice as the record of our renewal transaction; `refunded` in Stripe's units."""
    invoice_id, currency = ref(invoice), invoice.get("currency")
    if invoice_id is None:
        raise InvalidStripeObject("not an invoice")
    status = _INVOICE_STATUS.get(str(invoice.get("status")))
    amount = minor(invoice.get("amount_paid") if status is S.COMPLETED else invoice.get("amount_due"), currency)
    refunded_minor = _refunded(status, refunded, currency)
    return ProviderRecord(
        reference=invoice_id,
        transaction_id=transaction_id,
        amount=amount,
        refunded_amount=refunded_minor,
        currency=currency.upper() if isinstance(currency, str) and currency else None,
        status=with_refunds(status, amount, refunded_minor),
    )


def _refunded(status: S | None, refunded: int, currency: object) -> int | None:
    """Refunds count only on money taken; unknown when Stripe's status is."""
    if status is None:
        return None
    if status is not S.COMPLETED:
        return 0
    return minor(refunded, currency)
