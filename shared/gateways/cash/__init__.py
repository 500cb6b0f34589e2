"""Cash: the manifest. Completed by `POST /v1/transactions/{id}/complete`; refunds are paid out by hand."""

from shared.gateways.cash.adapter import CashAdapter, CashConfig
from shared.gateways.cash.details import CashDetails
from shared.gateways.manifest import GatewayManifest

MANIFEST = GatewayManifest(adapter=CashAdapter(), details=CashDetails)

__all__ = ["MANIFEST", "CashAdapter", "CashConfig", "CashDetails"]
