"""Octo (secure.octo.uz): the manifest. We prepare the payment; Octo notifies us; two-stage capture on request."""

from __future__ import annotations

from shared.gateways.manifest import Capabilities, GatewayManifest
from shared.gateways.octo.adapter import OctoAdapter
from shared.gateways.octo.details import OctoDetails

ADAPTER = OctoAdapter()
MANIFEST = GatewayManifest(adapter=ADAPTER, details=OctoDetails, capabilities=Capabilities(two_stage_capture=True))

__all__ = ["ADAPTER", "MANIFEST", "OctoAdapter", "OctoDetails"]
