"""Stripe: the manifest. Checkout Sessions, subscriptions, refunds, and the events Stripe sends back."""

from __future__ import annotations

from shared.gateways.manifest import Capabilities, GatewayManifest
from shared.gateways.stripe.adapter import StripeAdapter
from shared.gateways.stripe.details import StripeDetails

ADAPTER = StripeAdapter()
MANIFEST = GatewayManifest(adapter=ADAPTER, details=StripeDetails, capabilities=Capabilities(subscriptions=True))

__all__ = ["ADAPTER", "MANIFEST", "StripeAdapter", "StripeDetails"]
