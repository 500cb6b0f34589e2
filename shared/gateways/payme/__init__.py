"""Payme Merchant API: Payme calls us over JSON-RPC 2.0 and waits for the answer."""

from shared.gateways.payme.adapter import PaymeAdapter

ADAPTER = PaymeAdapter()
