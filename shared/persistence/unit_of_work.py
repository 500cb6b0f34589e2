"""One database transaction per message: inbox claim, row locks, aggregate writes, audit and outbox."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction as DriverTransaction
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import metrics, tracing
from shared.domain.errors import DomainError
from shared.domain.events import DomainEvent, EventType
from shared.domain.exchange import MAX_RATE_AGE, Converter, Rate
from shared.domain.money import Currency
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.messages import cloud_event
from shared.persistence import driver
from shared.persistence.errors import as_unavailable, translated
from shared.persistence.notices import NoticedCache
from shared.persistence.repositories import (
    AccountRepository,
    DifferenceRepository,
    RefundRepository,
    TransactionRepository,
)
from shared.security.cipher import Cipher
from shared.security.pan import mask_pans

log = logging.getLogger(__name__)
Reporting = tuple[Currency | None, Converter | None]
"""A tenant's reporting currency (None: no such tenant) and how a currency converts into it on a day (None: no
rate of the last MAX_RATE_AGE)."""
RatesCache = NoticedCache[tuple[uuid.UUID, date, str], Reporting]
"""The `Reporting` of a tenant, day and currency, kept while the processor LISTENs on billing_reporting: a commit
finds it without a round trip, and the rate is found once for every amount converted with it."""


def reporting_of(rows: list[asyncpg.Record], source: Currency, day: date) -> Reporting:
    """The `Reporting` that REPORTING_RATES' rows give for `source` on `day`."""
    if not rows:
        return None, None
    target = Currency.of(rows[0]["reporting_currency"])
    rates = [
        Rate.of(row["day"], row["currency"], row["quote"], row["rate"], row["nominal"])
        for row in rows
        if row["day"] is not None
    ]
    return target, Converter.between(source, target, day, rates)


STATUS_REACHED = {
    EventType.TRANSACTION_CREATED: "pending",
    EventType.TRANSACTION_COMPLETED: "completed",
    EventType.TRANSACTION_FAILED: "failed",
    EventType.TRANSACTION_CANCELED: "canceled",
    EventType.TRANSACTION_EXPIRED: "expired",
    EventType.TRANSACTION_PARTIALLY_REFUNDED: "partially_refunded",
    EventType.TRANSACTION_REFUNDED: "refunded",
}
"""The events that move a transaction to a status, for billing_payments_total (one count per move)."""


class ConcurrentUpdate(Exception):
    """The row changed under us although it was locked: a bug or a manual edit; retry the message."""


class RefundIdTaken(DomainError):
    """A refund id another tenant's refund already has: the command is refused and that row stays as it was."""

    code = "refund_id_taken"


class UnitOfWork:
    """Use as `async with uow_factory() as uow:`; nothing is written unless `commit()` is called.

    The transaction is asyncpg's, opened at entry. Repositories run the hot statements on asyncpg
    (`shared.persistence.driver`) and queries built from input through SQLAlchemy on the same session, in
    autocommit mode so that it never opens a transaction of its own: whatever runs on it runs inside this one.
    A driver error leaves the block as DatabaseUnavailable.

    With `read_only=True` no transaction is opened (two round trips less) and `commit()` is refused: each
    statement reads its own snapshot, which is what a read committed transaction gives a reader anyway.
    """

    def __init__(
        self, engine: AsyncEngine, cipher: Cipher, *, read_only: bool = False, rates: RatesCache | None = None
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._read_only = read_only
        self._rates = rates
        self._conn: AsyncConnection | None = None
        self._db: asyncpg.Connection | None = None
        self._tx: DriverTransaction | None = None
        self._committed = False
        self._transactions: list[Transaction] = []
        self._refunds: list[Refund] = []
        self._events: list[DomainEvent] = []
        self._calls = Columns(6)
        """The gateway calls for webhook_log."""

    async def __aenter__(self) -> UnitOfWork:
        with translated():
            conn, db = await driver.checkout(self._engine, autocommit=True)
            self._conn = conn
            if not self._read_only:
                try:
                    self._tx = db.transaction()
                    await self._tx.start()
                except BaseException as exc:
                    await driver.release(conn, db, exc)
                    raise
            self._db = db
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None and self._db is not None
        with translated():
            try:
                if self._tx is not None and not self._committed and not isinstance(exc, driver.LOST):
                    await self._tx.rollback()
            except (asyncpg.PostgresError, *driver.LOST):
                self._db.terminate()  # a session in an unknown state never goes back to the pool
            finally:
                await driver.release(self._conn, self._db, exc)
        if exc is not None and (unavailable := as_unavailable(exc)) is not None:
            raise unavailable from exc

    @property
    def _asyncpg(self) -> asyncpg.Connection:
        assert self._db is not None, "use the unit of work inside `async with`"
        return self._db

    @property
    def _core(self) -> AsyncConnection:
        assert self._conn is not None, "use the unit of work inside `async with`"
        return self._conn

    def transactions(self, tenant_id: uuid.UUID) -> TransactionRepository:
        return TransactionRepository(self._asyncpg, self._core, tenant_id, self._transactions)

    def refunds(self, tenant_id: uuid.UUID) -> RefundRepository:
        return RefundRepository(self._asyncpg, tenant_id, self._refunds)

    def accounts(self, tenant_id: uuid.UUID) -> AccountRepository:
        return AccountRepository(self._asyncpg, tenant_id, self._cipher)

    def differences(self) -> DifferenceRepository:
        return DifferenceRepository(self._core)

    async def next_in(self, sequence: str) -> int:
        """The next value of a database sequence, inside this transaction (e.g. a gateway's own ids)."""
        return int(await self._asyncpg.fetchval(driver.NEXT_IN_SEQUENCE, sequence))

    def emit(self, event: DomainEvent) -> None:
        """Publish an event that is not a transaction's change (e.g. reconciliation.mismatch) at commit."""
        self._events.append(event)

    async def claim(self, consumer: str, message_id: str) -> bool:
        """Record a message as processed; False when it already was (a duplicate delivery)."""
        return await self._asyncpg.fetchval(driver.CLAIM, consumer, message_id) is not None

    def log_webhook(
        self,
        *,
        tenant_id: uuid.UUID,
        account_id: uuid.UUID,
        gateway: str,
        message_id: str,
        payload: Any,
        outcome: str | None = None,
    ) -> None:
        """Keep a gateway's call as received, card numbers masked (and, where the gateway has one, the code we
        answered), at commit."""
        self._calls.append(tenant_id, account_id, gateway, message_id, driver.json_text(mask_pans(payload)), outcome)

    async def commit(self, *, actor: str, request_id: str | None, at: datetime | None = None) -> None:
        if self._tx is None:
            raise RuntimeError("a read-only unit of work has nothing to commit")
        await self._write_refunds()
        audit = AuditColumns()
        outbox = OutboxColumns()
        moves: list[tuple[str, str]] = []
        for tx in self._transactions:
            if not tx.changes:
                continue
            tx.report_in(await self._reporting(tx))
            if not await self._write_transaction(tx):
                tx.changes.clear()  # the row was there already (a resend under another command id)
                continue
            for change in tx.changes:
                audit.add(tx, actor, change.action, change.before, change.after, request_id)
                outbox.add(change.event, at or tx.updated_at)
                status = STATUS_REACHED.get(change.event.type)
                if status is not None:
                    moves.append((tx.gateway, status))
            tx.changes.clear()
        for event in self._events:
            outbox.add(event, at)
        self._events.clear()
        if outbox.rows or self._calls.rows:
            await self._asyncpg.execute(
                driver.AUDIT_OUTBOX_AND_WEBHOOKS, *audit.columns(), *outbox.columns(), *self._calls.columns()
            )
        await self._tx.commit()
        self._committed = True
        for gateway, status in moves:
            metrics.PAYMENTS.labels(gateway, status).inc()

    async def _reporting(self, tx: Transaction) -> dict[str, Any] | None:
        """The transaction in its tenant's reporting currency at the rate of the day (UTC) of its last change."""
        day = tx.updated_at.astimezone(UTC).date()

        async def read() -> Reporting:
            rows = await self._asyncpg.fetch(driver.REPORTING_RATES, tx.tenant_id, day - MAX_RATE_AGE, day, tx.currency)
            return reporting_of(list(rows), tx.money.currency, day)

        key = (tx.tenant_id, day, tx.currency)
        target, converter = await (read() if self._rates is None else self._rates.get(key, read))
        if target is None:
            return None
        if converter is None:
            metrics.REPORTING_RATE_MISSING.labels(tx.currency, target.code).inc()
            log.warning(
                "no exchange rate to report a transaction in its tenant's currency",
                extra={"transaction_id": str(tx.id), "currency": tx.currency, "reporting_currency": target.code},
            )
            return None
        return converter.view(tx.amount)

    async def _write_transaction(self, tx: Transaction) -> bool:
        """Insert a new aggregate or update a loaded one; False when a new one's id is already taken."""
        if tx.version == 0 and tx.changes and tx.changes[0].action == "create":
            if await self._asyncpg.fetchval(driver.INSERT_TRANSACTION, *driver.transaction_row(tx), 1) is None:
                return False
            tx.version = 1
            return True
        if await self._asyncpg.fetchval(driver.UPDATE_TRANSACTION, *driver.transaction_update(tx)) is None:
            raise ConcurrentUpdate(f"transaction {tx.id} changed concurrently")
        tx.version += 1
        return True

    async def _write_refunds(self) -> None:
        for refund in self._refunds:
            if await self._asyncpg.fetchval(driver.UPSERT_REFUND, *driver.refund_row(refund)) is None:
                raise RefundIdTaken(f"refund id {refund.id} is already taken")


class Columns:
    """Rows for one `unnest(...)` of the commit's statement, handed over column by column."""

    def __init__(self, width: int) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self._width = width

    def append(self, *row: Any) -> None:
        assert len(row) == self._width
        self.rows.append(row)

    def columns(self) -> list[list[Any]]:
        return [list(column) for column in zip(*self.rows, strict=True)] if self.rows else [[]] * self._width


class AuditColumns(Columns):
    """A commit's audit rows."""

    def __init__(self) -> None:
        super().__init__(7)

    def add(self, tx: Transaction, actor: str, action: str, before: Any, after: Any, request_id: str | None) -> None:
        self.append(tx.tenant_id, tx.id, actor, action, driver.json_text(before), driver.json_text(after), request_id)


class OutboxColumns(Columns):
    """A commit's events as CloudEvents."""

    def __init__(self) -> None:
        super().__init__(3)

    def add(self, event: DomainEvent, at: datetime | None) -> None:
        body = cloud_event(event, at)
        tracing.stamp_event(body)
        self.append(event.id, event.type.routing_key, driver.json_text(body))
