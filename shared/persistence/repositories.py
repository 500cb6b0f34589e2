"""Tenant-scoped repositories: each is built for one tenant, so no query can leave it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, cast, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.domain.reconciliation import Difference
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount
from shared.persistence import driver, mapping
from shared.persistence.tables import reconciliation_differences, transactions
from shared.security.cipher import Cipher


class TransactionRepository:
    def __init__(
        self, db: asyncpg.Connection, conn: AsyncConnection, tenant_id: uuid.UUID, seen: list[Transaction]
    ) -> None:
        self._db = db
        self._conn = conn
        self._tenant_id = tenant_id
        self._seen = seen

    async def get(self, transaction_id: uuid.UUID, *, lock: bool = True) -> Transaction | None:
        """Load one transaction of this tenant (deleted ones too: a gateway may still call about them)."""
        query = driver.SELECT_TRANSACTION_FOR_UPDATE if lock else driver.SELECT_TRANSACTION
        return self._seen_one(await self._db.fetchrow(query, self._tenant_id, transaction_id))

    async def find_by_detail(
        self, account_id: uuid.UUID, path: tuple[str, ...], value: str, *, lock: bool = True
    ) -> Transaction | None:
        """The transaction of a gateway account whose details hold `value` at `path` (a gateway's own reference)."""
        condition, parameters = detail_equals(path, value, first_parameter=3)
        query = (
            f"SELECT {driver.TRANSACTION_COLUMNS} FROM transactions WHERE tenant_id = $1 AND account_id = $2 "
            f"AND {condition} ORDER BY created_at DESC LIMIT 1"
        )
        if lock:
            query += " FOR UPDATE"
        return self._seen_one(await self._db.fetchrow(query, self._tenant_id, account_id, *parameters))

    async def in_detail_range(self, account_id: uuid.UUID, key: str, low: int, high: int) -> list[Transaction]:
        """The account's transactions whose details hold an integer `key` within [low, high], in its order."""
        at = cast(transactions.c.details[key].astext, BigInteger)
        query = (
            select(transactions)
            .where(
                transactions.c.tenant_id == self._tenant_id,
                transactions.c.account_id == account_id,
                transactions.c.details.has_key(key),
                at.between(low, high),
            )
            .order_by(at, transactions.c.id)
        )
        rows = (await self._conn.execute(query)).mappings().all()
        return [mapping.transaction_from_row(row) for row in rows]

    def _seen_one(self, row: Any) -> Transaction | None:
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
    def __init__(self, db: asyncpg.Connection, tenant_id: uuid.UUID, seen: list[Refund]) -> None:
        self._db = db
        self._tenant_id = tenant_id
        self._seen = seen

    async def get(self, refund_id: uuid.UUID) -> Refund | None:
        row = await self._db.fetchrow(driver.SELECT_REFUND, self._tenant_id, refund_id)
        if row is None:
            return None
        refund = mapping.refund_from_row(row)
        self._seen.append(refund)
        return refund

    async def in_flight(self, transaction_id: uuid.UUID) -> int:
        """What requested, unsettled refunds of a transaction hold back (call with its row locked)."""
        held = await self._db.fetchval(
            driver.REFUNDS_IN_FLIGHT, self._tenant_id, transaction_id, RefundStatus.REQUESTED.value
        )
        return int(held)

    def add(self, refund: Refund) -> None:
        if refund.tenant_id != self._tenant_id:
            raise ValueError("refund belongs to another tenant")
        self._seen.append(refund)


class AccountRepository:
    def __init__(self, db: asyncpg.Connection, tenant_id: uuid.UUID, cipher: Cipher) -> None:
        self._db = db
        self._tenant_id = tenant_id
        self._cipher = cipher

    async def get(self, account_id: uuid.UUID) -> GatewayAccount | None:
        row = await self._db.fetchrow(driver.SELECT_ACCOUNT, self._tenant_id, account_id)
        return None if row is None else account_from_row(row, self._cipher)

    async def only_one_for(self, gateway: str) -> GatewayAccount | None:
        """The tenant's account for a gateway when it has exactly one (so `account_id` may be left out)."""
        found = await self.first_two_of(gateway)
        return found[0] if len(found) == 1 else None

    async def first_two_of(self, gateway: str) -> list[GatewayAccount]:
        """Up to two of the tenant's live accounts for a gateway: enough to tell none, one and several apart."""
        rows = await self._db.fetch(driver.SELECT_ACCOUNTS_OF_GATEWAY, self._tenant_id, gateway)
        return [account_from_row(row, self._cipher) for row in rows]


class DifferenceRepository:
    """The differences a reconciliation run found, stored in the unit of work that publishes them."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, run_id: uuid.UUID, found: Sequence[Difference]) -> None:
        rows = [
            {
                "run_id": run_id,
                "kind": d.kind.value,
                "resolution": d.resolution.value,
                "transaction_id": d.transaction_id,
                "reference": d.reference,
                "ours": d.ours,
                "theirs": d.theirs,
            }
            for d in found
        ]
        await self._conn.execute(insert(reconciliation_differences), rows)


class AccountDirectory:
    """Gateway accounts read outside a unit of work (the ingress' lookups), each on a pooled connection."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self._engine = engine
        self._cipher = cipher

    async def named(self, gateway: str, account_id: uuid.UUID) -> GatewayAccount | None:
        """The live account a webhook URL names, of whichever tenant: the account tells the tenant."""
        async with driver.connection(self._engine) as db:
            row = await db.fetchrow(driver.SELECT_NAMED_ACCOUNT, account_id, gateway)
        return None if row is None else account_from_row(row, self._cipher)

    async def get(self, tenant_id: uuid.UUID, account_id: uuid.UUID) -> GatewayAccount | None:
        async with driver.connection(self._engine) as db:
            return await AccountRepository(db, tenant_id, self._cipher).get(account_id)

    async def first_two_of(self, tenant_id: uuid.UUID, gateway: str) -> list[GatewayAccount]:
        async with driver.connection(self._engine) as db:
            return await AccountRepository(db, tenant_id, self._cipher).first_two_of(gateway)


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def detail_equals(path: tuple[str, ...], value: str, first_parameter: int) -> tuple[str, list[Any]]:
    """SQL for `details` at `path` equals `value`, written so the partial lookup indexes (migration 0011) apply,
    and its parameters (numbered from `first_parameter`).

    The planner matches an index only on the same literal expression, so plain keys are written inline;
    they come from our code, never from a request, and anything else falls back to a bound path.
    """
    value_at = f"${first_parameter}"
    if path and all(_PLAIN_KEY.match(part) for part in path):
        inline = path[0] if len(path) == 1 else "{" + ",".join(path) + "}"
        operator = "->>" if len(path) == 1 else "#>>"
        return f"details ? '{path[0]}' AND (details {operator} '{inline}') = {value_at}", [value]
    return f"(details #>> ${first_parameter + 1}::text[]) = {value_at}", [value, list(path)]


def account_from_row(row: Any, cipher: Cipher) -> GatewayAccount:
    config = {**row["public_config"], **cipher.open(row["secret_config"])}
    return GatewayAccount(id=row["id"], tenant_id=row["tenant_id"], gateway=row["gateway"], config=config)
