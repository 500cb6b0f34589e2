"""Custom integrators: the manifest. They call our HMAC-signed webhook with a status; we hold no API of theirs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.gateways.integrator.adapter import IntegratorAdapter, IntegratorConfig
from shared.gateways.integrator.details import IntegratorDetails
from shared.gateways.integrator.signature import SIGNATURE_HEADER, sign, sign_legacy, signature_valid
from shared.gateways.manifest import GatewayManifest

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.gateways.processing import GatewayWiring, ProcessorDeps


def _webhooks() -> APIRouter:
    from shared.gateways.integrator.webhook import router

    return router


def _processor(deps: ProcessorDeps) -> GatewayWiring:
    from shared.gateways.integrator.handlers import wire

    return wire(deps)


MANIFEST = GatewayManifest(
    adapter=IntegratorAdapter(), details=IntegratorDetails, webhooks=_webhooks, processor=_processor
)

__all__ = [
    "MANIFEST",
    "SIGNATURE_HEADER",
    "IntegratorAdapter",
    "IntegratorConfig",
    "IntegratorDetails",
    "sign",
    "sign_legacy",
    "signature_valid",
]
