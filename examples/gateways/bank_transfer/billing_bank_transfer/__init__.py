"""A bank transfer gateway for the billing service: the manifest its `billing.gateways` entry point names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing_bank_transfer.adapter import BankTransferAdapter
from billing_bank_transfer.details import BankTransferDetails
from shared.gateways.manifest import Capabilities, GatewayManifest

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.gateways.processing import GatewayWiring, ProcessorDeps


def _webhooks() -> APIRouter:
    from billing_bank_transfer.webhook import router

    return router


def _processor(deps: ProcessorDeps) -> GatewayWiring:
    from billing_bank_transfer.handlers import wire

    return wire(deps)


MANIFEST = GatewayManifest(
    adapter=BankTransferAdapter(),
    details=BankTransferDetails,
    capabilities=Capabilities(refunds=False, refunds_note="bank transfers are refunded by a transfer back"),
    webhooks=_webhooks,
    processor=_processor,
)
