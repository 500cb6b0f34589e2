"""Payme Merchant API: the manifest. Payme calls us over JSON-RPC 2.0 and waits for the answer."""

from __future__ import annotations

from shared.gateways.manifest import Capabilities, GatewayManifest, Simulator
from shared.gateways.payme.adapter import PaymeAdapter
from shared.gateways.payme.details import PaymeDetails
from shared.reconciliation.files import SettlementFile

CAPABILITIES = Capabilities(
    refunds=False,
    refunds_note="Payme refunds are made from the Payme side (CancelTransaction); they cannot be requested here",
)


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
    settlement_file=_settlement_file,
    simulator=_simulator,
)

__all__ = ["ADAPTER", "MANIFEST", "PaymeAdapter", "PaymeDetails"]
