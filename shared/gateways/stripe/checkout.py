"""What we ask of Stripe Checkout for one transaction: the session's parameters, derived only from the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.domain.transaction import Transaction
from shared.gateways.stripe.amounts import to_stripe

CALLER_FIELDS = frozenset(
    {"mode", "items", "success_url", "cancel_url", "customer_id", "customer_email", "trial_period_days", "description"}
)
"""Details a creator may set; every other Stripe detail is a fact Stripe reports, never an input."""
# Stripe accepts a session lifetime between 30 minutes and 24 hours.
_MIN_LIFETIME = timedelta(minutes=31)
_MAX_LIFETIME = timedelta(hours=24)


class InvalidCheckout(ValueError):
    """The transaction's details cannot make a Checkout Session."""


@dataclass(frozen=True, slots=True)
class Item:
    price_id: str
    quantity: int


def checkout_params(tx: Transaction) -> dict[str, Any]:
    """The Checkout Session parameters: deterministic, so a retry under the same idempotency key is the same request."""
    # Only the creator's fields count: the rest are Stripe's reports (a webhook may record them before we do).
    details = {k: v for k, v in tx.details.items() if k in CALLER_FIELDS}
    mode = details.get("mode") or "payment"
    if mode not in ("payment", "subscription"):
        raise InvalidCheckout("details.mode must be 'payment' or 'subscription'")
    items = _items(details.get("items"))
    success_url = details.get("success_url")
    if not isinstance(success_url, str) or not success_url.startswith(("https://", "http://")):
        raise InvalidCheckout("details.success_url (an http(s) URL) is required")
    params: dict[str, Any] = {
        "mode": mode,
        "success_url": success_url,
        "client_reference_id": str(tx.id),
        "metadata": _ours(tx),
    }
    if details.get("cancel_url"):
        params["cancel_url"] = details["cancel_url"]
    params.update(_customer(details))
    if mode == "payment":
        params["line_items"] = _price_lines(items) if items else [_amount_line(tx)]
        params["payment_intent_data"] = {"metadata": _ours(tx)}
        if details.get("trial_period_days") is not None:
            raise InvalidCheckout("details.trial_period_days applies to subscription mode only")
    else:
        if not items:
            raise InvalidCheckout("subscription mode needs details.items with Stripe price ids")
        params["line_items"] = _price_lines(items)
        params["subscription_data"] = {"metadata": _ours(tx), **_trial(details.get("trial_period_days"))}
    if tx.expires_at is not None and _MIN_LIFETIME <= tx.expires_at - tx.created_at <= _MAX_LIFETIME:
        # Stripe stops taking the payment when we stop waiting for it; outside Stripe's window it keeps its default.
        params["expires_at"] = int(tx.expires_at.timestamp())
    return params


def _ours(tx: Transaction) -> dict[str, str]:
    """Our ids on every Stripe object we cause, so each event leads back to its transaction."""
    return {"transaction_id": str(tx.id), "account_id": str(tx.account_id)}


def _items(raw: object) -> list[Item]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        raise InvalidCheckout("details.items must be a non-empty list of {price_id, quantity}")
    items = []
    for entry in raw:
        price = entry.get("price_id") if isinstance(entry, dict) else None
        quantity = entry.get("quantity", 1) if isinstance(entry, dict) else None
        if not isinstance(price, str) or not price or not isinstance(quantity, int) or isinstance(quantity, bool):
            raise InvalidCheckout("each of details.items needs a price_id and an integer quantity")
        if not 1 <= quantity <= 999_999:
            raise InvalidCheckout("details.items quantity must be between 1 and 999999")
        items.append(Item(price, quantity))
    return items


def _price_lines(items: list[Item]) -> list[dict[str, Any]]:
    return [{"price": item.price_id, "quantity": item.quantity} for item in items]


def _amount_line(tx: Transaction) -> dict[str, Any]:
    """One ad-hoc line for the whole amount, in the transaction's currency."""
    name = tx.details.get("description") or f"Payment {tx.id}"
    return {
        "price_data": {
            "currency": tx.currency.lower(),
            "unit_amount": to_stripe(tx.money),
            "product_data": {"name": str(name)[:250]},
        },
        "quantity": 1,
    }


def _customer(details: dict[str, Any]) -> dict[str, str]:
    customer_id, email = details.get("customer_id"), details.get("customer_email")
    if customer_id and email:
        raise InvalidCheckout("give details.customer_id or details.customer_email, not both")
    if customer_id:
        return {"customer": str(customer_id)}
    if email:
        if "@" not in str(email):
            raise InvalidCheckout("details.customer_email is not an email address")
        return {"customer_email": str(email)}
    return {}


def _trial(days: object) -> dict[str, int]:
    if days is None:
        return {}
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 730:
        raise InvalidCheckout("details.trial_period_days must be an integer from 1 to 730")
    return {"trial_period_days": days}
