"""Octo (secure.octo.uz): found by the gateway registry through `ADAPTER`."""

from shared.gateways.octo.adapter import OctoAdapter

ADAPTER = OctoAdapter()

__all__ = ["ADAPTER", "OctoAdapter"]
