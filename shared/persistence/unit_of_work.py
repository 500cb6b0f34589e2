"""One database transaction per message: inbox claim, row locks, aggregate writes, audit and outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import metrics, tracing
from shared.domain.events import DomainEvent, EventType
from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.messages import cloud_event
from shared.persistence import mapping
from shared.persistence.repositories import AccountRepository, RefundRepository, TransactionRepository
from shared.persistence.tables import audit_log, inbox, outbox, refunds, transactions, webhook_log
from shared.security.cipher import Cipher

OUTBOX_CHANNEL = "billing_outbox"

# Built once: SQLAlchemy then reuses their compiled form, which matters at hundreds of messages a second.
CLAIM = (
    pg_insert(inbox)
    .values(consumer=bindparam("consumer"), message_id=bindparam("message_id"))
    .on_conflict_do_nothing()
    .returning(inbox.c.message_id)
)
INSERT_TRANSACTION = (
    pg_insert(transactions).on_conflict_do_nothing(index_elements=[transactions.c.id]).returning(transactions.c.id)
)
UPDATE_TRANSACTION = (
    update(transactions)
    .where(transactions.c.id == bindparam("key_id"), transactions.c.version == bindparam("key_version"))
    .returning(transactions.c.id)
)
INSERT_AUDIT = insert(audit_log)
INSERT_OUTBOX = insert(outbox)
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


class UnitOfWork:
    """Use as `async with uow_factory() as uow:`; nothing is written unless `commit()` is called."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self._engine = engine
        self._cipher = cipher
        self._conn: AsyncConnection | None = None
        self._transactions: list[Transaction] = []
        self._refunds: list[Refund] = []
        self._events: list[DomainEvent] = []

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self._engine.connect()
        await self._conn.begin()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self._conn.close()

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None, "use the unit of work inside `async with`"
        return self._conn

    def transactions(self, tenant_id: uuid.UUID) -> TransactionRepository:
        return TransactionRepository(self.conn, tenant_id, self._transactions)

    def refunds(self, tenant_id: uuid.UUID) -> RefundRepository:
        return RefundRepository(self.conn, tenant_id, self._refunds)

    def accounts(self, tenant_id: uuid.UUID) -> AccountRepository:
        return AccountRepository(self.conn, tenant_id, self._cipher)

    def emit(self, event: DomainEvent) -> None:
        """Publish an event that is not a transaction's change (e.g. reconciliation.mismatch) at commit."""
        self._events.append(event)

    async def claim(self, consumer: str, message_id: str) -> bool:
        """Record a message as processed; False when it already was (a duplicate delivery)."""
        claimed = await self.conn.execute(CLAIM, {"consumer": consumer, "message_id": message_id})
        return claimed.first() is not None

    async def log_webhook(
        self, *, tenant_id: uuid.UUID, account_id: uuid.UUID, gateway: str, message_id: str, payload: Any
    ) -> None:
        await self.conn.execute(
            insert(webhook_log).values(
                tenant_id=tenant_id,
                account_id=account_id,
                gateway=gateway,
                message_id=message_id,
                payload=payload,
            )
        )

    async def commit(self, *, actor: str, request_id: str | None, at: datetime | None = None) -> None:
        conn = self.conn
        await self._write_refunds()
        audit_rows: list[dict[str, Any]] = []
        outbox_rows: list[dict[str, Any]] = []
        moves: list[tuple[str, str]] = []
        for tx in self._transactions:
            if not tx.changes:
                continue
            if not await self._write_transaction(tx):
                tx.changes.clear()  # the row was there already (a resend under another command id)
                continue
            for change in tx.changes:
                audit_rows.append(
                    {
                        "tenant_id": tx.tenant_id,
                        "transaction_id": tx.id,
                        "actor": actor,
                        "action": change.action,
                        "before": change.before,
                        "after": change.after,
                        "request_id": request_id,
                    }
                )
                body = cloud_event(change.event, at or tx.updated_at)
                tracing.stamp_event(body)
                outbox_rows.append({"event_id": change.event.id, "routing_key": change.event.type.value, "body": body})
                status = STATUS_REACHED.get(change.event.type)
                if status is not None:
                    moves.append((tx.gateway, status))
            tx.changes.clear()
        for event in self._events:
            body = cloud_event(event, at)
            tracing.stamp_event(body)
            outbox_rows.append({"event_id": event.id, "routing_key": event.type.value, "body": body})
        self._events.clear()
        if audit_rows:
            await conn.execute(INSERT_AUDIT, audit_rows)
        if outbox_rows:
            await conn.execute(INSERT_OUTBOX, outbox_rows)  # its trigger NOTIFYs the relay at commit
        await conn.commit()
        for gateway, status in moves:
            metrics.PAYMENTS.labels(gateway, status).inc()

    async def _write_transaction(self, tx: Transaction) -> bool:
        """Insert a new aggregate or update a loaded one; False when a new one's id is already taken."""
        values = mapping.transaction_values(tx)
        if tx.version == 0 and tx.changes and tx.changes[0].action == "create":
            inserted = await self.conn.execute(INSERT_TRANSACTION, {**values, "version": 1})
            if inserted.first() is None:
                return False
            tx.version = 1
            return True
        updated = await self.conn.execute(
            UPDATE_TRANSACTION, {**values, "version": tx.version + 1, "key_id": tx.id, "key_version": tx.version}
        )
        if updated.first() is None:
            raise ConcurrentUpdate(f"transaction {tx.id} changed concurrently")
        tx.version += 1
        return True

    async def _write_refunds(self) -> None:
        for refund in self._refunds:
            values = mapping.refund_values(refund)
            await self.conn.execute(
                pg_insert(refunds).values(**values).on_conflict_do_update(index_elements=[refunds.c.id], set_=values)
            )
