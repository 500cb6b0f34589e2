"""The unit of work as handlers see it: repositories and commit, no connection, no SQL (the port).

`UnitOfWork` (PostgreSQL) implements it; `tests/support/fakes/unit_of_work.py` is the in-memory fake the
handlers' unit tests run on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from shared.domain.events import DomainEvent
from shared.domain.reconciliation import Difference
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount


class Transactions(Protocol):
    """One tenant's transactions; what is loaded or added is written at commit."""

    async def get(self, transaction_id: uuid.UUID, *, lock: bool = True) -> Transaction | None: ...

    async def find_by_detail(
        self, account_id: uuid.UUID, path: tuple[str, ...], value: str, *, lock: bool = True
    ) -> Transaction | None: ...

    async def in_detail_range(self, account_id: uuid.UUID, key: str, low: int, high: int) -> list[Transaction]: ...

    def add(self, tx: Transaction) -> None: ...


class Refunds(Protocol):
    """One tenant's refunds."""

    async def get(self, refund_id: uuid.UUID) -> Refund | None: ...

    async def in_flight(self, transaction_id: uuid.UUID) -> int: ...

    def add(self, refund: Refund) -> None: ...


class Accounts(Protocol):
    """One tenant's gateway accounts, secrets opened."""

    async def get(self, account_id: uuid.UUID) -> GatewayAccount | None: ...

    async def only_one_for(self, gateway: str) -> GatewayAccount | None: ...

    async def first_two_of(self, gateway: str) -> list[GatewayAccount]: ...


class Differences(Protocol):
    """What reconciliation runs found."""

    async def add(self, run_id: uuid.UUID, found: Sequence[Difference]) -> None: ...


class UnitOfWorkPort(Protocol):
    """One atomic change: `async with factory() as uow:`, load, change, `commit`; nothing is kept without it."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def transactions(self, tenant_id: uuid.UUID) -> Transactions: ...

    def refunds(self, tenant_id: uuid.UUID) -> Refunds: ...

    def accounts(self, tenant_id: uuid.UUID) -> Accounts: ...

    def differences(self) -> Differences: ...

    async def next_in(self, sequence: str) -> int: ...

    def emit(self, event: DomainEvent) -> None: ...

    async def claim(self, consumer: str, message_id: str) -> bool: ...

    def log_webhook(
        self,
        *,
        tenant_id: uuid.UUID,
        account_id: uuid.UUID,
        gateway: str,
        message_id: str,
        payload: Any,
        outcome: str | None = None,
    ) -> None: ...

    async def commit(self, *, actor: str, request_id: str | None, at: datetime | None = None) -> None: ...
