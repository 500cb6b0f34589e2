"""Tenant-scoped repositories: each is built for one tenant, so no query can leave it."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import Boolean, ColumnElement, bindparam, cast, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from shared.domain.refund import Refund
from shared.domain.status import RefundStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount
from shared.persistence import mapping
from shared.persistence.tables import gateway_accounts, refunds, transactions
from shared.security.cipher import Cipher

# Built once, so SQLAlchemy reuses their compiled form on the hot path.
_TX = select(transactions).where(transactions.c.tenant_id == bindparam("tenant"), transactions.c.id == bindparam("id"))
_TX_FOR_UPDATE = _TX.with_for_update()
_ACCOUNT = select(gateway_accounts).where(
    gateway_accounts.c.tenant_id == bindparam("tenant"),
    gateway_accounts.c.id == bindparam("id"),
    gateway_accounts.c.deleted_at.is_(None),
)


class TransactionRepository:
    def __init__(self, conn: AsyncConnection, tenant_id: uuid.UUID, seen: list[Transaction]) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._seen = seen

    async def get(self, transaction_id: uuid.UUID, *, lock: bool = True) -> Transaction | None:
        """Load one transaction of this tenant (deleted ones too: a gateway may still call about them)."""
        query = _TX_FOR_UPDATE if lock else _TX
        row = (await self._conn.execute(query, {"tenant": self._tenant_id, "id": transaction_id})).mappings().first()
        if row is None:
            return None
        tx = mapping.transaction_from_row(row)
        self._seen.append(tx)
        return tx

    async def find_by_detail(
        self, account_id: uuid.UUID, path: tuple[str, ...], value: str, *, lock: bool = True
    ) -> Transaction | None:
        """The transaction of a gateway account whose details hold `value` at `path` (a gateway's own reference)."""
        query = (
            select(transactions)
            .where(
                transactions.c.tenant_id == self._tenant_id,
                transactions.c.account_id == account_id,
                *detail_equals(path, value),
            )
            .order_by(transactions.c.created_at.desc())
            .limit(1)
        )
        if lock:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        if row is None:
            return None
        tx = mapping.transaction_from_row(row)
        self._seen.append(tx)
        return tx

    def add(self, tx: Transaction) -> None:
        if tx.tenant_id != self._tenant_id:
            raise ValueError("transaction belongs to another tenant")
        self._seen.append(tx)


class RefundRepository:
    def __init__(self, conn: AsyncConnection, tenant_id: uuid.UUID, seen: list[Refund]) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._seen = seen

    async def get(self, refund_id: uuid.UUID) -> Refund | None:
        query = select(refunds).where(refunds.c.tenant_id == self._tenant_id, refunds.c.id == refund_id)
        row = (await self._conn.execute(query)).mappings().first()
        if row is None:
            return None
        refund = mapping.refund_from_row(row)
        self._seen.append(refund)
        return refund

    async def in_flight(self, transaction_id: uuid.UUID) -> int:
        """What requested, unsettled refunds of a transaction hold back (call with its row locked)."""
        query = select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
            refunds.c.tenant_id == self._tenant_id,
            refunds.c.transaction_id == transaction_id,
            refunds.c.status == RefundStatus.REQUESTED.value,
        )
        return int((await self._conn.execute(query)).scalar_one())

    def add(self, refund: Refund) -> None:
        if refund.tenant_id != self._tenant_id:
            raise ValueError("refund belongs to another tenant")
        self._seen.append(refund)


class AccountRepository:
    def __init__(self, conn: AsyncConnection, tenant_id: uuid.UUID, cipher: Cipher) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._cipher = cipher

    async def get(self, account_id: uuid.UUID) -> GatewayAccount | None:
        row = (await self._conn.execute(_ACCOUNT, {"tenant": self._tenant_id, "id": account_id})).mappings().first()
        return None if row is None else account_from_row(row, self._cipher)

    async def only_one_for(self, gateway: str) -> GatewayAccount | None:
        """The tenant's account for a gateway when it has exactly one (so `account_id` may be left out)."""
        query = (
            select(gateway_accounts)
            .where(
                gateway_accounts.c.tenant_id == self._tenant_id,
                gateway_accounts.c.gateway == gateway,
                gateway_accounts.c.deleted_at.is_(None),
            )
            .limit(2)
        )
        rows = (await self._conn.execute(query)).mappings().all()
        return account_from_row(rows[0], self._cipher) if len(rows) == 1 else None


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def detail_equals(path: tuple[str, ...], value: str) -> list[ColumnElement[bool]]:
    """`details` at `path` equals `value`, written so the partial lookup indexes (migration 0011) apply.

    The planner matches an index only on the same literal expression, so plain keys are written inline;
    they come from our code, never from a request, and anything else falls back to a bound path.
    """
    if path and all(_PLAIN_KEY.match(part) for part in path):
        inline = path[0] if len(path) == 1 else "{" + ",".join(path) + "}"
        operator = "->>" if len(path) == 1 else "#>>"
        return [
            literal_column(f"transactions.details ? '{path[0]}'", Boolean),
            literal_column(f"(transactions.details {operator} '{inline}')", Text) == value,
        ]
    bound = cast(literal(list(path), ARRAY(Text)), ARRAY(Text))
    return [transactions.c.details.op("#>>")(bound) == value]


def account_from_row(row: Any, cipher: Cipher) -> GatewayAccount:
    config = {**row["public_config"], **cipher.open(row["secret_config"])}
    return GatewayAccount(id=row["id"], tenant_id=row["tenant_id"], gateway=row["gateway"], config=config)
