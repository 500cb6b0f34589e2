"""What a gateway's processor side gets from the processor, and what it hands back to be dispatched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import Clock
from shared.persistence.port import UnitOfWorkPort
from shared.security.cipher import Cipher
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.gateways.registry import GatewayRegistry

CallHandler = Callable[[Any], Awaitable[Any]]
CommandRoute = tuple[type[Any], Callable[[Any], Awaitable[None]]]


@dataclass(frozen=True)
class ProcessorDeps:
    uow: Callable[[], UnitOfWorkPort]
    registry: GatewayRegistry
    clock: Clock
    settings: Settings
    engine: AsyncEngine
    cipher: Cipher
    reader: Callable[[], UnitOfWorkPort]
    """A unit of work that only reads: no database transaction, nothing to commit."""


@dataclass(frozen=True)
class GatewayWiring:
    """A synchronous call handler for a gateway that waits for our answer, and commands under `gateway.<name>.*`."""

    gateway: str
    calls: CallHandler | None = None
    commands: dict[str, CommandRoute] = field(default_factory=dict)
    tick: Callable[[], Awaitable[object]] | None = None
    """Periodic work the processor's scheduler runs every tick (safe beside other replicas)."""
