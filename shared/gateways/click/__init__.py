"""Click: the manifest. The SHOP API (Click calls our Prepare and Complete) and the Merchant API (status, reversal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.gateways.click.adapter import ClickAdapter
from shared.gateways.click.details import ClickDetails
from shared.gateways.manifest import Capabilities, FiscalFactory, GatewayManifest, Simulator
from shared.reconciliation.files import SettlementFile

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.gateways.processing import GatewayWiring, ProcessorDeps

CAPABILITIES = Capabilities(
    partial_refunds=False,
    refunds_note="Click refunds only the whole amount (a full reversal); partial refunds are not possible",
)


def _webhooks() -> APIRouter:
    from shared.gateways.click.webhook import router

    return router


def _processor(deps: ProcessorDeps) -> GatewayWiring:
    from shared.gateways.click.handlers import wire

    return wire(deps)


def _settlement_file() -> SettlementFile:
    from shared.gateways.click.settlement import SETTLEMENT_FILE

    return SETTLEMENT_FILE


def _fiscal() -> FiscalFactory:
    from shared.gateways.click.fiscal import FiscalSubmissions

    return FiscalSubmissions


def _simulator() -> Simulator:
    from shared.gateways.click.simulate import simulate

    return simulate


ADAPTER = ClickAdapter()
MANIFEST = GatewayManifest(
    adapter=ADAPTER,
    details=ClickDetails,
    capabilities=CAPABILITIES,
    webhooks=_webhooks,
    processor=_processor,
    settlement_file=_settlement_file,
    simulator=_simulator,
    fiscal=_fiscal,
)

__all__ = ["ADAPTER", "MANIFEST", "ClickAdapter", "ClickDetails"]
