"""Stripe in the processor: each verified webhook event arrives as a `gateway.stripe.event` command."""

from __future__ import annotations

from shared.broker.consumer import dispatch_table
from shared.gateways.processing import GatewayWiring, ProcessorDeps
from shared.gateways.stripe.adapter import StripeAdapter
from shared.gateways.stripe.handlers.events import StripeEvents
from shared.gateways.stripe.messages import StripeEventMessage


def wire(deps: ProcessorDeps) -> GatewayWiring:
    adapter = deps.registry.get("stripe") if "stripe" in deps.registry.names() else None
    if not isinstance(adapter, StripeAdapter):
        return GatewayWiring(gateway="stripe")  # a registry without the built-in Stripe adapter: nothing to route
    events = StripeEvents(deps.uow, adapter, deps.clock)
    return GatewayWiring(gateway="stripe", commands=dispatch_table((StripeEventMessage, events.handle)))
