"""Octo (secure.octo.uz): the manifest. We prepare the payment; Octo notifies us; two-stage capture on request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.gateways.manifest import Capabilities, GatewayManifest
from shared.gateways.octo.adapter import OctoAdapter
from shared.gateways.octo.details import OctoDetails

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.gateways.processing import GatewayWiring, ProcessorDeps


def _webhooks() -> APIRouter:
    from shared.gateways.octo.webhook import router

    return router


def _processor(deps: ProcessorDeps) -> GatewayWiring:
    from shared.gateways.octo.handlers import wire

    return wire(deps)


ADAPTER = OctoAdapter()
MANIFEST = GatewayManifest(
    adapter=ADAPTER,
    details=OctoDetails,
    capabilities=Capabilities(two_stage_capture=True),
    webhooks=_webhooks,
    processor=_processor,
)

__all__ = ["ADAPTER", "MANIFEST", "OctoAdapter", "OctoDetails"]
