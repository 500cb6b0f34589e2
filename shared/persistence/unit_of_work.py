"""One database transaction per message: inbox claim, row locks, aggregate writes, audit and outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import insert, text, update
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
        statement = (
            pg_insert(inbox)
            .values(consumer=consumer, message_id=message_id)
            .on_conflict_do_nothing()
            .returning(inbox.c.message_id)
        )
        return (await self.conn.execute(statement)).first() is not None

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
            await self._write_transaction(tx)
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
            await conn.execute(insert(audit_log), audit_rows)
        if outbox_rows:
            await conn.execute(insert(outbox), outbox_rows)
            await conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        await conn.commit()
        for gateway, status in moves:
            metrics.PAYMENTS.labels(gateway, status).inc()

    async def _write_transaction(self, tx: Transaction) -> None:
        values = mapping.transaction_values(tx)
        if tx.version == 0 and tx.changes and tx.changes[0].action == "create":
            await self.conn.execute(insert(transactions).values(**values, version=1))
            tx.version = 1
            return
        result = await self.conn.execute(
            update(transactions)
            .where(transactions.c.id == tx.id, transactions.c.version == tx.version)
            .values(**values, version=tx.version + 1)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"transaction {tx.id} changed concurrently")
        tx.version += 1

    async def _write_refunds(self) -> None:
        for refund in self._refunds:
            values = mapping.refund_values(refund)
            await self.conn.execute(
                pg_insert(refunds).values(**values).on_conflict_do_update(index_elements=[refunds.c.id], set_=values)
            )
