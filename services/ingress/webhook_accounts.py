"""Webhooks name their gateway account in the URL; the account tells the tenant (moving to shared.gateways)."""

from shared.gateways.webhooks import gateway_account, signed_call

__all__ = ["gateway_account", "signed_call"]
