"""Gateway-specific wiring of the processor.

Every module here exposes `wire(deps) -> GatewayWiring`: a synchronous call handler for gateways that wait
for our answer (Payme, Click, Octo), and command handlers for routing keys `gateway.<name>.*` consumed from
billing.processor (e.g. Stripe events). Adding a gateway means adding its module, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.handlers import TransactionHandlers
from shared.clock import Clock
from shared.gateways.registry import GatewayRegistry
from shared.persistence.port import UnitOfWorkPort
from shared.security.cipher import Cipher
from shared.settings import Settings

CallHandler = Callable[[Any], Awaitable[Any]]
CommandRoute = tuple[type[Any], Callable[[Any], Awaitable[None]]]


@dataclass(frozen=True)
class ProcessorDeps:
    uow: Callable[[], UnitOfWorkPort]
    registry: GatewayRegistry
    clock: Clock
    handlers: TransactionHandlers
    settings: Settings
    engine: AsyncEngine
    cipher: Cipher
    reader: Callable[[], UnitOfWorkPort]
    """A unit of work that only reads: no database transaction, nothing to commit."""


@dataclass(frozen=True)
class GatewayWiring:
    gateway: str
    calls: CallHandler | None = None
    commands: dict[str, CommandRoute] = field(default_factory=dict)


def discover(deps: ProcessorDeps) -> list[GatewayWiring]:
    wirings: list[GatewayWiring] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        wire = getattr(module, "wire", None)
        if wire is not None:
            wirings.append(wire(deps))
    return wirings
