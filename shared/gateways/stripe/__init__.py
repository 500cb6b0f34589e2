"""Stripe: the manifest. Checkout Sessions, subscriptions, refunds, and the events Stripe sends back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.gateways.manifest import Capabilities, GatewayManifest
from shared.gateways.stripe.adapter import StripeAdapter
from shared.gateways.stripe.details import StripeDetails

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.gateways.processing import GatewayWiring, ProcessorDeps


def _webhooks() -> APIRouter:
    from shared.gateways.stripe.webhook import router

    return router


def _processor(deps: ProcessorDeps) -> GatewayWiring:
    from shared.gateways.stripe.handlers import wire

    return wire(deps)


ADAPTER = StripeAdapter()
MANIFEST = GatewayManifest(
    adapter=ADAPTER,
    details=StripeDetails,
    capabilities=Capabilities(subscriptions=True),
    webhooks=_webhooks,
    processor=_processor,
)

__all__ = ["ADAPTER", "MANIFEST", "StripeAdapter", "StripeDetails"]
