"""What a gateway declares about itself: one manifest per gateway, found by the registry through entry points."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.details import GatewayDetails
from shared.gateways.base import GatewayAdapter
from shared.reconciliation.files import SettlementFile

if TYPE_CHECKING:
    from fastapi import APIRouter
    from sqlalchemy.ext.asyncio import AsyncEngine

    from shared.clock import Clock
    from shared.gateways.processing import GatewayWiring, ProcessorDeps
    from shared.persistence.port import UnitOfWorkPort


@dataclass(frozen=True)
class Capabilities:
    """What the service may ask of the gateway; the ingress refuses the rest before anything is sent."""

    refunds: bool = True
    partial_refunds: bool = True
    two_stage_capture: bool = False
    subscriptions: bool = False
    refunds_note: str = ""
    """Why refunds are refused or limited, in words the API caller understands."""

    def refund_refusal(self, amount: int, paid: int, refunded: int) -> str | None:
        """Why a refund of `amount` cannot be requested here, or None when the gateway takes it."""
        if not self.refunds:
            return self.refunds_note or "this gateway takes no refunds"
        if not self.partial_refunds and (refunded != 0 or amount != paid):
            return self.refunds_note or "this gateway refunds only the whole amount"
        return None


Simulator = Callable[[Any], Coroutine[Any, Any, list[Any]]]


class FiscalResubmission(Protocol):
    async def resubmit(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID, actor: str) -> dict[str, Any]:
        """Record a new intent for a paid payment's receipt and submit it; the receipt's fiscal state after."""
        ...


FiscalFactory = Callable[["Callable[[], UnitOfWorkPort]", "AsyncEngine", "Clock"], FiscalResubmission]
"""Builds a gateway's fiscal submissions from a unit-of-work factory, the engine and the clock."""
"""Plays the gateway's side against a running service (`billing simulate <name>`): a Simulation in, checks out."""


@dataclass(frozen=True)
class GatewayManifest:
    """One gateway: its adapter and everything the services plug in from it.

    The parts the services mount are given as functions, called once when a service starts, so that loading the
    registry imports no web framework or database code a process does not use.
    """

    adapter: GatewayAdapter
    details: type[GatewayDetails] | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    webhooks: Callable[[], APIRouter] | None = None
    """The ingress side: the router that parses, verifies and answers the gateway's calls."""
    processor: Callable[[ProcessorDeps], GatewayWiring] | None = None
    """The processor side: its synchronous call handler and its command routes."""
    settlement_file: Callable[[], SettlementFile] | None = None
    simulator: Callable[[], Simulator] | None = None
    fiscal: Callable[[], FiscalFactory] | None = None
    """Fiscal receipts the service itself submits to the gateway: a refusal can be resubmitted by an operator."""

    @property
    def name(self) -> str:
        return self.adapter.name
