"""Runs one reconciliation: stage the processor's records, match them to our ledger, report and fix.

Everything streams: records are staged in batches, the comparison reads a server-side cursor, and the
differences are written in batches; memory stays flat whatever the period.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import Clock
from shared.domain.errors import TransitionNotAllowed, UnknownGateway
from shared.domain.events import DomainEvent, EventType
from shared.domain.reconciliation import Difference, ProviderRecord, Resolution, compare
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderRejected
from shared.gateways.registry import GatewayRegistry
from shared.persistence.port import UnitOfWorkPort
from shared.persistence.reconciliations import ReconciliationStore
from shared.reconciliation.files import GENERIC_FILE, SettlementFile, records_from_bytes
from shared.reconciliation.sources import ApiReconciliation, Period, ReferencePaths

log = logging.getLogger(__name__)
BATCH = 1000
Progress = Callable[[dict[str, int]], Awaitable[None] | None]


class ReconciliationUnavailable(Exception):
    """This account's gateway has no API source: reconcile it with a settlement file."""


@dataclass
class Counts:
    records: int = 0
    matched: int = 0
    differences: int = 0
    fixed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "matched": self.matched,
            "differences": self.differences,
            "fixed": self.fixed,
            "by_kind": dict(self.by_kind),
        }


class _AccountLedger:
    """Our transactions of the account in the period, streamed for per-payment API sources."""

    def __init__(self, store: ReconciliationStore, account: GatewayAccount, period: Period) -> None:
        self._store = store
        self._account = account
        self._period = period

    def transactions(self) -> AsyncIterator[Transaction]:
        return self._store.ledger(self._account, self._period.start, self._period.end)


class Reconciler:
    def __init__(
        self,
        engine: AsyncEngine,
        uow: Callable[[], UnitOfWorkPort],
        registry: GatewayRegistry,
        clock: Clock,
    ) -> None:
        self._store = ReconciliationStore(engine)
        self._uow = uow
        self._registry = registry
        self._clock = clock

    async def run(self, tenant_id: uuid.UUID, run_id: uuid.UUID, progress: Progress | None = None) -> Counts:
        """Execute a queued run; a run that is not queued (done, or taken by another replica) is left alone."""
        row = await self._store.claim(tenant_id, run_id, self._clock())
        if row is None:
            return Counts()
        counts = Counts()
        try:
            account = await self._account(row)
            period = Period(row["period_from"], row["period_to"])
            source = self._source(row, account, period)
            await self._stage(run_id, source, counts, progress)
            await self._resolve(run_id, account)
            await self._compare(run_id, row, account, period, counts, progress)
        except Exception as exc:
            log.exception("reconciliation failed", extra={"reconciliation_id": str(run_id)})
            # A provider's refusal is shown by its status and code; its answer's text stays in the log above.
            shown = exc.note if isinstance(exc, ProviderRejected) else str(exc)
            await self._finish(run_id, "failed", counts, shown[:1000])
            raise
        await self._finish(run_id, "completed", counts, None)
        return counts

    async def _account(self, row: Any) -> GatewayAccount:
        async with self._uow() as uow:
            account = await uow.accounts(row["tenant_id"]).get(row["account_id"])
        if account is None:
            raise ReconciliationUnavailable(f"gateway account {row['account_id']} no longer exists")
        return account

    def _source(self, row: Any, account: GatewayAccount, period: Period) -> AsyncIterator[ProviderRecord]:
        if row["source"] == "file":
            return records_from_bytes(bytes(row["file_body"] or b""), self._settlement_file(account.gateway))
        adapter = self._registry.get(account.gateway)
        if not isinstance(adapter, ApiReconciliation):
            raise ReconciliationUnavailable(f"{account.gateway} has no API to reconcile with; upload a file")
        return adapter.reconciliation_records(account, period, _AccountLedger(self._store, account, period))

    def _settlement_file(self, gateway: str) -> SettlementFile:
        try:
            declared = self._registry.manifest(gateway).settlement_file
        except UnknownGateway:
            return GENERIC_FILE  # a gateway no longer installed: its file may still use the generic columns
        return declared() if declared is not None else GENERIC_FILE

    async def _stage(
        self, run_id: uuid.UUID, source: AsyncIterator[ProviderRecord], counts: Counts, progress: Progress | None
    ) -> None:
        batch: list[ProviderRecord] = []
        async for record in source:
            batch.append(record)
            if len(batch) >= BATCH:
                await self._insert_staged(run_id, batch, counts, progress)
                batch = []
        if batch:
            await self._insert_staged(run_id, batch, counts, progress)

    async def _insert_staged(
        self, run_id: uuid.UUID, batch: list[ProviderRecord], counts: Counts, progress: Progress | None
    ) -> None:
        await self._store.stage(run_id, batch)
        counts.records += len(batch)
        await _report(progress, counts)

    async def _resolve(self, run_id: uuid.UUID, account: GatewayAccount) -> None:
        """Give every staged record our transaction id, found by the gateway's id or our reference there."""
        adapter = self._registry.get(account.gateway)
        # One path each, a tuple of keys into details (nested when the gateway keeps it in an object); () for none.
        paths = adapter.reference_paths(account) if isinstance(adapter, ReferencePaths) else ((), ())
        await self._store.resolve(run_id, account, paths)

    async def _compare(
        self,
        run_id: uuid.UUID,
        row: Any,
        account: GatewayAccount,
        period: Period,
        counts: Counts,
        progress: Progress | None,
    ) -> None:
        pending: list[Difference] = []
        async for ours, theirs in self._store.matched(run_id, account):
            counts.matched += ours is not None
            pending += compare(ours, theirs)
            if len(pending) >= BATCH:
                await self._report_differences(run_id, row, pending, counts, progress)
                pending = []
        async for unmatched in self._store.only_ours(run_id, account, period.start, period.end):
            pending += compare(unmatched, None)
            if len(pending) >= BATCH:
                await self._report_differences(run_id, row, pending, counts, progress)
                pending = []
        await self._report_differences(run_id, row, pending, counts, progress)

    async def _report_differences(
        self, run_id: uuid.UUID, row: Any, found: list[Difference], counts: Counts, progress: Progress | None
    ) -> None:
        """Store the differences, publish each as reconciliation.mismatch, and apply the safe fixes (if allowed)."""
        if not found:
            return
        if not row["apply_fixes"]:
            found = [listed_only(difference) for difference in found]
        async with self._uow() as uow:
            await uow.differences().add(run_id, found)
            for difference in found:
                uow.emit(mismatch_event(run_id, row, difference))
            await uow.commit(actor="reconciliation", request_id=f"reconciliation:{run_id}")
        for difference in found:
            counts.differences += 1
            counts.by_kind[difference.kind.value] = counts.by_kind.get(difference.kind.value, 0) + 1
            if difference.completes_payment and await self._complete(row["tenant_id"], difference, run_id):
                counts.fixed += 1
        await self._save_counts(run_id, counts)
        await _report(progress, counts)

    async def _complete(self, tenant_id: uuid.UUID, difference: Difference, run_id: uuid.UUID) -> bool:
        """The processor says paid and we still say pending: complete it through the state machine."""
        if difference.transaction_id is None:
            return False
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(difference.transaction_id)
            if tx is None:
                return False
            try:
                tx.complete(self._clock(), {"reconciled_by": str(run_id)})
            except TransitionNotAllowed:
                return False
            await uow.commit(actor="reconciliation", request_id=f"reconciliation:{run_id}")
        return True

    async def _save_counts(self, run_id: uuid.UUID, counts: Counts) -> None:
        await self._store.save_counts(run_id, counts.as_dict(), self._clock())

    async def _finish(self, run_id: uuid.UUID, status: str, counts: Counts, error: str | None) -> None:
        await self._store.finish(run_id, status, counts.as_dict(), error, self._clock())


def listed_only(difference: Difference) -> Difference:
    """The difference for a person to look at: nothing is fixed by a run that may not change transactions."""
    return replace(difference, resolution=Resolution.NEEDS_ATTENTION) if difference.completes_payment else difference


def mismatch_event(run_id: uuid.UUID, row: Any, difference: Difference) -> DomainEvent:
    return DomainEvent(
        type=EventType.RECONCILIATION_MISMATCH,
        tenant_id=row["tenant_id"],
        subject=difference.transaction_id or run_id,
        data={
            "reconciliation_id": str(run_id),
            "account_id": str(row["account_id"]),
            "gateway": row["gateway"],
            "kind": difference.kind.value,
            "resolution": difference.resolution.value,
            "transaction_id": None if difference.transaction_id is None else str(difference.transaction_id),
            "reference": difference.reference,
            "ours": difference.ours,
            "theirs": difference.theirs,
        },
    )


async def _report(progress: Progress | None, counts: Counts) -> None:
    if progress is None:
        return
    outcome = progress(counts.as_dict())
    if outcome is not None:
        await outcome
