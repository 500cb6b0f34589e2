"""An in-memory unit of work for the handlers' unit tests: the port's behaviour, no database.

`FakeDatabase` is what committed units of work leave behind; each `FakeUnitOfWork` works on copies of it, so
nothing is kept without `commit()`, a duplicate message id is refused, and a stale version is refused at
commit like the real one's `UPDATE ... WHERE version`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from shared.domain.events import DomainEvent
from shared.domain.reconciliation import Difference
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount
from shared.persistence.unit_of_work import ConcurrentUpdate, RefundIdTaken


@dataclass(frozen=True)
class AuditEntry:
    transaction_id: uuid.UUID
    actor: str
    action: str
    request_id: str | None


@dataclass
class FakeDatabase:
    """The committed state the fake units of work share."""

    transactions: dict[uuid.UUID, Transaction] = field(default_factory=dict)
    refunds: dict[uuid.UUID, Refund] = field(default_factory=dict)
    accounts: dict[uuid.UUID, GatewayAccount] = field(default_factory=dict)
    inbox: set[tuple[str, str]] = field(default_factory=set)
    outbox: list[DomainEvent] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    differences: list[tuple[uuid.UUID, Difference]] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)
    commits: int = 0

    def add_account(self, account: GatewayAccount) -> GatewayAccount:
        self.accounts[account.id] = account
        return account

    def add_transaction(self, tx: Transaction) -> Transaction:
        """Store an aggregate as committed, its recorded changes dropped (an arranged starting point)."""
        stored = copy.deepcopy(tx)
        stored.changes.clear()
        stored.version = max(stored.version, 1)
        self.transactions[tx.id] = stored
        return stored

    def event_types(self, subject: uuid.UUID | None = None) -> list[str]:
        return [e.type.value for e in self.outbox if subject is None or e.subject == subject]


class FakeTransactions:
    def __init__(self, db: FakeDatabase, tenant_id: uuid.UUID, seen: list[Transaction]) -> None:
        self._db = db
        self._tenant_id = tenant_id
        self._seen = seen

    async def get(self, transaction_id: uuid.UUID, *, lock: bool = True) -> Transaction | None:
        stored = self._db.transactions.get(transaction_id)
        if stored is None or stored.tenant_id != self._tenant_id:
            return None
        return self._loaded(stored)

    async def find_by_detail(
        self, account_id: uuid.UUID, path: tuple[str, ...], value: str, *, lock: bool = True
    ) -> Transaction | None:
        found = [tx for tx in self._of(account_id) if _at(tx.details, path) == value]
        return self._loaded(max(found, key=lambda tx: tx.created_at)) if found else None

    async def in_detail_range(self, account_id: uuid.UUID, key: str, low: int, high: int) -> list[Transaction]:
        found = [tx for tx in self._of(account_id) if key in tx.details and low <= int(tx.details[key]) <= high]
        return [copy.deepcopy(tx) for tx in sorted(found, key=lambda tx: (int(tx.details[key]), tx.id))]

    def add(self, tx: Transaction) -> None:
        if tx.tenant_id != self._tenant_id:
            raise ValueError("transaction belongs to another tenant")
        self._seen.append(tx)

    def _of(self, account_id: uuid.UUID) -> list[Transaction]:
        return [
            tx
            for tx in self._db.transactions.values()
            if tx.tenant_id == self._tenant_id and tx.account_id == account_id
        ]

    def _loaded(self, stored: Transaction) -> Transaction:
        tx = copy.deepcopy(stored)
        self._seen.append(tx)
        return tx


class FakeRefunds:
    def __init__(self, db: FakeDatabase, tenant_id: uuid.UUID, seen: list[Refund]) -> None:
        self._db = db
        self._tenant_id = tenant_id
        self._seen = seen

    async def get(self, refund_id: uuid.UUID) -> Refund | None:
        stored = self._db.refunds.get(refund_id)
        if stored is None or stored.tenant_id != self._tenant_id:
            return None
        refund = copy.deepcopy(stored)
        self._seen.append(refund)
        return refund

    async def in_flight(self, transaction_id: uuid.UUID) -> int:
        return sum(
            r.amount
            for r in self._db.refunds.values()
            if r.tenant_id == self._tenant_id
            and r.transaction_id == transaction_id
            and r.status is RefundStatus.REQUESTED
        )

    def add(self, refund: Refund) -> None:
        if refund.tenant_id != self._tenant_id:
            raise ValueError("refund belongs to another tenant")
        self._seen.append(refund)


class FakeAccounts:
    def __init__(self, db: FakeDatabase, tenant_id: uuid.UUID) -> None:
        self._db = db
        self._tenant_id = tenant_id

    async def get(self, account_id: uuid.UUID) -> GatewayAccount | None:
        account = self._db.accounts.get(account_id)
        return account if account is not None and account.tenant_id == self._tenant_id else None

    async def only_one_for(self, gateway: str) -> GatewayAccount | None:
        found = await self.first_two_of(gateway)
        return found[0] if len(found) == 1 else None

    async def first_two_of(self, gateway: str) -> list[GatewayAccount]:
        mine = [a for a in self._db.accounts.values() if a.tenant_id == self._tenant_id and a.gateway == gateway]
        return mine[:2]


class FakeDifferences:
    def __init__(self, pending: list[tuple[uuid.UUID, Difference]]) -> None:
        self._pending = pending

    async def add(self, run_id: uuid.UUID, found: Sequence[Difference]) -> None:
        self._pending.extend((run_id, difference) for difference in found)


class FakeUnitOfWork:
    """Implements `UnitOfWorkPort` on a FakeDatabase."""

    def __init__(self, db: FakeDatabase, *, read_only: bool = False) -> None:
        self._db = db
        self._read_only = read_only
        self._transactions: list[Transaction] = []
        self._refunds: list[Refund] = []
        self._claims: list[tuple[str, str]] = []
        self._events: list[DomainEvent] = []
        self._calls: list[dict[str, Any]] = []
        self._differences: list[tuple[uuid.UUID, Difference]] = []
        self.committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None  # whatever was not committed is simply dropped

    def transactions(self, tenant_id: uuid.UUID) -> FakeTransactions:
        return FakeTransactions(self._db, tenant_id, self._transactions)

    def refunds(self, tenant_id: uuid.UUID) -> FakeRefunds:
        return FakeRefunds(self._db, tenant_id, self._refunds)

    def accounts(self, tenant_id: uuid.UUID) -> FakeAccounts:
        return FakeAccounts(self._db, tenant_id)

    def differences(self) -> FakeDifferences:
        return FakeDifferences(self._differences)

    async def next_in(self, sequence: str) -> int:
        self._db.sequences[sequence] = self._db.sequences.get(sequence, 0) + 1  # a sequence never rolls back
        return self._db.sequences[sequence]

    def emit(self, event: DomainEvent) -> None:
        self._events.append(event)

    async def claim(self, consumer: str, message_id: str) -> bool:
        key = (consumer, message_id)
        if key in self._db.inbox or key in self._claims:
            return False
        self._claims.append(key)
        return True

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
        self._calls.append(
            {"tenant_id": tenant_id, "account_id": account_id, "gateway": gateway, "message_id": message_id}
            | {"payload": payload, "outcome": outcome}
        )

    async def commit(self, *, actor: str, request_id: str | None, at: datetime | None = None) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work has nothing to commit")
        for refund in self._refunds:
            stored = self._db.refunds.get(refund.id)
            if stored is not None and stored.tenant_id != refund.tenant_id:
                raise RefundIdTaken(f"refund id {refund.id} is already taken")
            self._db.refunds[refund.id] = copy.deepcopy(refund)
        for tx in self._transactions:
            if tx.changes and self._write(tx):
                self._db.audit.extend(AuditEntry(tx.id, actor, c.action, request_id) for c in tx.changes)
                self._db.outbox.extend(c.event for c in tx.changes)
            tx.changes.clear()
        self._db.outbox.extend(self._events)
        self._db.inbox.update(self._claims)
        self._db.webhooks.extend(self._calls)
        self._db.differences.extend(self._differences)
        self._events, self._claims, self._calls, self._differences = [], [], [], []
        self._db.commits += 1
        self.committed = True

    def _write(self, tx: Transaction) -> bool:
        stored = self._db.transactions.get(tx.id)
        if tx.version == 0 and tx.changes[0].action == "create":
            if stored is not None:
                return False  # the id is taken: a resend under another command id makes no twin
            tx.version = 1
        elif stored is None or stored.version != tx.version:
            raise ConcurrentUpdate(f"transaction {tx.id} changed concurrently")
        else:
            tx.version += 1
        saved = copy.deepcopy(tx)
        saved.changes = []
        self._db.transactions[tx.id] = saved
        return True


def _at(details: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = details
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None else str(value)
