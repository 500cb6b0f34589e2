"""Reconciliation runs in the database: queued, claimed, staged, matched set-wise, finished.

The engine (`shared.reconciliation.engine`) decides; every statement of a run is here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import cast
from sqlalchemy.types import Text

from shared.domain.reconciliation import LedgerEntry, ProviderRecord
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount
from shared.persistence import driver, mapping
from shared.persistence.tables import reconciliation_differences, reconciliation_records, reconciliations, transactions

BATCH = 1000
"""Rows a server-side cursor fetches at a time."""
PAID = [s.value for s in TransactionStatus if s.was_paid()]
Run = dict[str, Any]
"""A run's row: id, tenant_id, account_id, gateway, source, period_from, period_to, status, file_name, ..."""


class ReconciliationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def queue(self, values: dict[str, Any]) -> bool:
        """Record a queued run; False when a nightly run of that period is recorded already (another replica)."""
        statement = upsert(reconciliations).values(**values).on_conflict_do_nothing().returning(reconciliations.c.id)
        async with driver.core(self._engine, begin=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def find(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> tuple[Run, list[Run]] | None:
        """A run of this tenant and every difference it found, in the order found."""
        mine = select(reconciliations).where(reconciliations.c.id == run_id, reconciliations.c.tenant_id == tenant_id)
        found = (
            select(reconciliation_differences)
            .where(reconciliation_differences.c.run_id == run_id)
            .order_by(reconciliation_differences.c.id)
        )
        async with driver.core(self._engine) as conn:
            row = (await conn.execute(mine)).mappings().first()
            if row is None:
                return None
            return dict(row), [dict(difference) for difference in (await conn.execute(found)).mappings().all()]

    async def claim(self, tenant_id: uuid.UUID, run_id: uuid.UUID, now: datetime) -> Run | None:
        """Mark a queued run running; None when it is not queued (done, or taken by another replica)."""
        statement = (
            update(reconciliations)
            .where(
                reconciliations.c.id == run_id,
                reconciliations.c.tenant_id == tenant_id,
                reconciliations.c.status == "queued",
            )
            .values(status="running", updated_at=now)
            .returning(reconciliations)
        )
        async with driver.core(self._engine, begin=True) as conn:
            row = (await conn.execute(statement)).mappings().first()
        return None if row is None else dict(row)

    async def stage(self, run_id: uuid.UUID, records: Sequence[ProviderRecord]) -> None:
        """Keep a batch of the processor's records for this run's set-wise match."""
        async with driver.core(self._engine, begin=True) as conn:
            await conn.execute(insert(reconciliation_records), [_staged(run_id, record) for record in records])

    async def resolve(
        self, run_id: uuid.UUID, account: GatewayAccount, paths: tuple[tuple[str, ...], tuple[str, ...]]
    ) -> None:
        """Give staged records our transaction id, found where `paths` (the gateway's id, our reference) point."""
        staged = reconciliation_records.c
        async with driver.core(self._engine, begin=True) as conn:
            for column, path in zip((staged.reference, staged.merchant_reference), paths, strict=True):
                if path:
                    in_details = transactions.c.details.op("#>>")(cast(literal(list(path), ARRAY(Text)), ARRAY(Text)))
                    await conn.execute(
                        update(reconciliation_records)
                        .where(
                            staged.run_id == run_id,
                            staged.transaction_id.is_(None),
                            transactions.c.tenant_id == account.tenant_id,
                            transactions.c.account_id == account.id,
                            in_details == column,
                        )
                        .values(transaction_id=transactions.c.id)
                    )

    async def matched(
        self, run_id: uuid.UUID, account: GatewayAccount
    ) -> AsyncIterator[tuple[LedgerEntry | None, ProviderRecord]]:
        """Each staged record with our side of it (None where we have none), streamed."""
        staged = reconciliation_records.c
        query = (
            select(reconciliation_records, *_ledger_columns())
            .select_from(
                reconciliation_records.outerjoin(
                    transactions,
                    and_(
                        transactions.c.id == staged.transaction_id,
                        transactions.c.tenant_id == account.tenant_id,
                        transactions.c.account_id == account.id,
                    ),
                )
            )
            .where(staged.run_id == run_id)
            .order_by(staged.id)
        )
        async with driver.core(self._engine) as conn:
            result = await conn.stream(query.execution_options(yield_per=BATCH))
            async for row in result.mappings():
                yield _ledger_entry(row), _provider_record(row)

    async def only_ours(
        self, run_id: uuid.UUID, account: GatewayAccount, start: datetime, end: datetime
    ) -> AsyncIterator[LedgerEntry]:
        """Our paid transactions of the period that no staged record names, streamed."""
        staged = reconciliation_records.c
        query = (
            select(*_ledger_columns())
            .where(
                transactions.c.tenant_id == account.tenant_id,
                transactions.c.account_id == account.id,
                transactions.c.created_at >= start,
                transactions.c.created_at <= end,
                transactions.c.status.in_(PAID),
                ~exists().where(staged.run_id == run_id, staged.transaction_id == transactions.c.id),
            )
            .order_by(transactions.c.created_at)
        )
        async with driver.core(self._engine) as conn:
            result = await conn.stream(query.execution_options(yield_per=BATCH))
            async for row in result.mappings():
                entry = _ledger_entry(row)
                assert entry is not None
                yield entry

    async def ledger(self, account: GatewayAccount, start: datetime, end: datetime) -> AsyncIterator[Transaction]:
        """The account's transactions created in the period, streamed (for per-payment API sources)."""
        query = select(transactions).where(
            transactions.c.tenant_id == account.tenant_id,
            transactions.c.account_id == account.id,
            transactions.c.created_at >= start,
            transactions.c.created_at <= end,
        )
        async with driver.core(self._engine) as conn:
            result = await conn.stream(query.execution_options(yield_per=BATCH))
            async for row in result.mappings():
                yield mapping.transaction_from_row(row)

    async def save_counts(self, run_id: uuid.UUID, counts: dict[str, Any], now: datetime) -> None:
        async with driver.core(self._engine, begin=True) as conn:
            await conn.execute(
                update(reconciliations).where(reconciliations.c.id == run_id).values(counts=counts, updated_at=now)
            )

    async def finish(
        self, run_id: uuid.UUID, status: str, counts: dict[str, Any], error: str | None, now: datetime
    ) -> None:
        """Record the run's end; the staged copy of the processor's records has served its purpose."""
        async with driver.core(self._engine, begin=True) as conn:
            await conn.execute(
                update(reconciliations)
                .where(reconciliations.c.id == run_id)
                .values(status=status, counts=counts, error=error, updated_at=now, completed_at=now)
            )
            await conn.execute(reconciliation_records.delete().where(reconciliation_records.c.run_id == run_id))


def _staged(run_id: uuid.UUID, record: ProviderRecord) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "transaction_id": record.transaction_id,
        "reference": record.reference,
        "merchant_reference": record.merchant_reference,
        "amount": record.amount,
        "refunded_amount": record.refunded_amount,
        "currency": record.currency,
        "status": None if record.status is None else record.status.value,
    }


def _ledger_columns() -> list[Any]:
    return [
        transactions.c.id.label("our_id"),
        transactions.c.status.label("our_status"),
        transactions.c.amount.label("our_amount"),
        transactions.c.refunded_amount.label("our_refunded"),
        transactions.c.currency.label("our_currency"),
    ]


def _ledger_entry(row: Any) -> LedgerEntry | None:
    if row["our_id"] is None:
        return None
    return LedgerEntry(
        transaction_id=row["our_id"],
        status=TransactionStatus(row["our_status"]),
        amount=row["our_amount"],
        refunded_amount=row["our_refunded"],
        currency=row["our_currency"],
    )


def _provider_record(row: Any) -> ProviderRecord:
    return ProviderRecord(
        reference=row["reference"],
        transaction_id=row["transaction_id"] if row["our_id"] is not None else None,
        amount=row["amount"],
        refunded_amount=row["refunded_amount"],
        currency=row["currency"],
        status=None if row["status"] is None else TransactionStatus(row["status"]),
        merchant_reference=row["merchant_reference"],
    )
