"""The Stripe gateway: Checkout Sessions, refunds, and the events Stripe sends back."""

from shared.gateways.stripe.adapter import StripeAdapter

ADAPTER = StripeAdapter()

__all__ = ["ADAPTER", "StripeAdapter"]
