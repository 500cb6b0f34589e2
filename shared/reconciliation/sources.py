"""Where a processor's records come from: its API (adapters that implement it) or an uploaded file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from shared.domain.reconciliation import ProviderRecord
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime


class Ledger(Protocol):
    """Our transactions of the account in the period, streamed (for sources that ask per payment)."""

    def transactions(self) -> AsyncIterator[Transaction]: ...


@runtime_checkable
class ApiReconciliation(Protocol):
    """An adapter that can list what its processor recorded for an account over a period."""

    def reconciliation_records(
        self, account: GatewayAccount, period: Period, ledger: Ledger
    ) -> AsyncIterator[ProviderRecord]: ...


@runtime_checkable
class ReferencePaths(Protocol):
    """Where an adapter keeps the gateway's own id and our reference at the gateway, in details."""

    def reference_paths(self, account: GatewayAccount) -> tuple[tuple[str, ...], tuple[str, ...]]: ...
