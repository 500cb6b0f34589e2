"""Payme Merchant API: the manifest. Payme calls us over JSON-RPC 2.0 and waits for the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.gateways.manifest import Capabilities, GatewayManifest, Simulator
from shared.gateways.payme.adapter import PaymeAdapter
from shared.gateways.payme.details import PaymeDetails
from shared.reconciliation.files import SettlementFile

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.gateways.processing import GatewayWiring, ProcessorDeps

CAPABILITIES = Capabilities(
    refunds=False,
    refunds_note="Payme refunds are made from the Payme side (CancelTransaction); they cannot be requested here",
)


def _webhooks() -> APIRouter:
    from shared.gateways.payme.webhook import router

    return router


def _processor(deps: ProcessorDeps) -> GatewayWiring:
    from shared.gateways.payme.handlers import wire

    return wire(deps)


def _settlement_file() -> SettlementFile:
    from shared.gateways.payme.settlement import SETTLEMENT_FILE

    return SETTLEMENT_FILE


def _simulator() -> Simulator:
    from shared.gateways.payme.simulate import simulate

    return simulate


ADAPTER = PaymeAdapter()
MANIFEST = GatewayManifest(
    adapter=ADAPTER,
    details=PaymeDetails,
    capabilities=CAPABILITIES,
    webhooks=_webhooks,
    processor=_processor,
    settlement_file=_settlement_file,
    simulator=_simulator,
)

__all__ = ["ADAPTER", "MANIFEST", "PaymeAdapter", "PaymeDetails"]
