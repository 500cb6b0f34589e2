"""The hot path's SQL, run on asyncpg directly, on the connections of SQLAlchemy's pool.

The rule for the two drivers: asyncpg for fixed statements on the hot path (prepared once per connection
by asyncpg's statement cache), SQLAlchemy Core for queries built from input. Both stay inside
`shared.persistence`: the rest of the code calls repositories, and sees one error, DatabaseUnavailable.

Every message and most requests run these statements. Through SQLAlchemy's async layer each costs about
160 µs more CPU (greenlet switch, compiled-cache lookup, result proxy) than asyncpg with its own statement
cache; at hundreds of payments a second that was a quarter of the processor. Queries built from user input
(lists, searches, statements, reconciliation) keep SQLAlchemy.

JSON columns: SQLAlchemy's asyncpg dialect gives each connection codecs that take JSON text and return
decoded values, so JSON parameters go in as `json_text(value)` and come back as Python objects.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.domain.refund import Refund
from shared.domain.transaction import Transaction
from shared.persistence.errors import translated

TRANSACTION_COLUMNS = (
    "id, tenant_id, account_id, gateway, status, amount, refunded_amount, currency, details, metadata, "
    "payment_url, version, expires_at, created_at, updated_at, deleted_at, reporting"
)
SELECT_TRANSACTION = f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE tenant_id = $1 AND id = $2"
SELECT_TRANSACTION_FOR_UPDATE = SELECT_TRANSACTION + " FOR UPDATE"
SELECT_VISIBLE_TRANSACTION = SELECT_TRANSACTION + " AND deleted_at IS NULL"
INSERT_TRANSACTION = (
    "INSERT INTO transactions (id, tenant_id, account_id, gateway, status, amount, refunded_amount, currency, "
    "details, metadata, payment_url, expires_at, deleted_at, created_at, updated_at, reporting, version) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)
UPDATE_TRANSACTION = (
    "UPDATE transactions SET tenant_id = $3, account_id = $4, gateway = $5, status = $6, amount = $7, "
    "refunded_amount = $8, currency = $9, details = $10, metadata = $11, payment_url = $12, expires_at = $13, "
    "deleted_at = $14, created_at = $15, updated_at = $16, reporting = $17, version = $18 "
    "WHERE id = $1 AND version = $2 RETURNING id"
)
REPORTING_RATES = (
    "SELECT t.reporting_currency, r.day, r.currency, r.quote, r.rate, r.nominal FROM tenants t "
    "LEFT JOIN LATERAL (SELECT DISTINCT ON (day, currency, quote) day, currency, quote, rate, nominal "
    " FROM exchange_rates WHERE day BETWEEN $2 AND $3 AND currency IN ($4, t.reporting_currency) "
    " AND $4 <> t.reporting_currency ORDER BY day, currency, quote, id DESC) r ON true WHERE t.id = $1"
)
"""A tenant's reporting currency and the rates (newest row per date, currency and quote) that may convert
`$4` into it between the dates `$2` and `$3`: direct, inverse and both legs of a cross rate."""
CLAIM = "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING message_id"
AUDIT_OUTBOX_AND_WEBHOOKS = (
    "WITH audit AS ("
    " INSERT INTO audit_log (tenant_id, transaction_id, actor, action, before, after, request_id)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[])"
    "), calls AS ("
    " INSERT INTO webhook_log (tenant_id, account_id, gateway, message_id, payload, outcome)"
    " SELECT * FROM unnest($11::uuid[], $12::uuid[], $13::text[], $14::text[], $15::jsonb[], $16::text[])"
    ") INSERT INTO outbox (event_id, routing_key, body) SELECT * FROM unnest($8::uuid[], $9::text[], $10::jsonb[])"
)
"""One round trip for a commit's audit rows, events and gateway calls (the outbox trigger NOTIFYs at commit)."""
NEXT_IN_SEQUENCE = "SELECT nextval($1::regclass)"
ACCOUNT_COLUMNS = "id, tenant_id, gateway, public_config, secret_config"
SELECT_ACCOUNT = (
    f"SELECT {ACCOUNT_COLUMNS} FROM gateway_accounts WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL"
)
SELECT_ACCOUNTS_OF_GATEWAY = (
    f"SELECT {ACCOUNT_COLUMNS} FROM gateway_accounts WHERE tenant_id = $1 AND gateway = $2 AND deleted_at IS NULL "
    "LIMIT 2"
)
SELECT_NAMED_ACCOUNT = (
    f"SELECT {ACCOUNT_COLUMNS} FROM gateway_accounts WHERE id = $1 AND gateway = $2 AND deleted_at IS NULL"
)
"""The account a webhook URL names, of whichever tenant: the account tells the tenant."""
REFUND_COLUMNS = (
    "id, tenant_id, transaction_id, amount, status, reason, error, provider_refund_id, created_at, updated_at"
)
SELECT_REFUND = f"SELECT {REFUND_COLUMNS} FROM refunds WHERE tenant_id = $1 AND id = $2"
REFUNDS_IN_FLIGHT = (
    "SELECT coalesce(sum(amount), 0) FROM refunds WHERE tenant_id = $1 AND transaction_id = $2 AND status = $3"
)
UPSERT_REFUND = (
    f"INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (id) DO UPDATE SET transaction_id = excluded.transaction_id, "
    "amount = excluded.amount, status = excluded.status, reason = excluded.reason, error = excluded.error, "
    "provider_refund_id = excluded.provider_refund_id, created_at = excluded.created_at, "
    "updated_at = excluded.updated_at "
    "WHERE refunds.tenant_id = excluded.tenant_id RETURNING id"
)
"""Insert or update a refund of this tenant; no row comes back when the id is another tenant's (left untouched)."""


async def driver_of(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy connection (same session, same transaction)."""
    pooled = await conn.get_raw_connection()
    driver: asyncpg.Connection = pooled.driver_connection
    return driver


LOST = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    OSError,
)
"""What a connection the server dropped (a restart, a failover, an administrator) raises on its next use."""


async def release(conn: AsyncConnection, db: asyncpg.Connection, error: BaseException | None = None) -> None:
    """Give the connection back to the pool; after a lost connection, start the pool afresh; never give back a
    session still inside a transaction.

    SQLAlchemy notices a lost connection only on its own statements, and these ran on asyncpg. A server that
    dropped one connection has usually dropped them all, so the pool is replaced rather than letting each
    pooled connection fail one request or message in turn.

    A unit of work cut short (its task cancelled during BEGIN, COMMIT or ROLLBACK, as when a broker node dies
    under a consumer) can leave asyncpg's transaction open, and SQLAlchemy's reset on return does not see a
    transaction asyncpg began. Pooled again, the next unit of work would run inside it as a savepoint, commit
    only the savepoint, and the rows it locked would stay locked for as long as the session lives. Such a
    session is closed instead.
    """
    try:
        if isinstance(error, LOST):
            db.terminate()
        elif isinstance(error, asyncio.CancelledError) or (not db.is_closed() and db.is_in_transaction()):
            db.terminate()
            await conn.invalidate()
            return
        if db.is_closed():
            await conn.invalidate()
            await conn.engine.dispose()
    finally:
        await conn.close()


async def checkout(engine: AsyncEngine, *, autocommit: bool = False) -> tuple[AsyncConnection, asyncpg.Connection]:
    """A pooled connection, through SQLAlchemy and as asyncpg's; hand both back with `release`.

    `autocommit`: SQLAlchemy never opens a transaction of its own on it (the caller opens asyncpg's).
    """
    conn = await engine.connect()
    try:
        if autocommit:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn, await driver_of(conn)
    except BaseException:
        await conn.close()
        raise


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for statements that stand alone (each commits on its own: no BEGIN, no COMMIT).

    A driver error leaving the block is DatabaseUnavailable.
    """
    with translated():
        conn, db = await checkout(engine)
        error: BaseException | None = None
        try:
            yield db
        except BaseException as exc:
            error = exc
            raise
        finally:
            await release(conn, db, error)


@asynccontextmanager
async def core(engine: AsyncEngine, *, begin: bool = False) -> AsyncIterator[AsyncConnection]:
    """A SQLAlchemy connection for statements built from input; `begin`: one transaction, committed at exit.

    A driver error leaving the block is DatabaseUnavailable.
    """
    with translated():
        async with engine.begin() if begin else engine.connect() as conn:
            yield conn


async def answers(engine: AsyncEngine) -> bool:
    """PostgreSQL takes a statement now (the readiness probe); False for any failure."""
    try:
        async with connection(engine) as db:
            return bool(await db.fetchval("SELECT 1") == 1)
    except Exception:  # any failure means "not ready"
        return False


def json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def transaction_row(tx: Transaction) -> tuple[Any, ...]:
    """INSERT_TRANSACTION's parameters, without the version (the caller adds it)."""
    return (
        tx.id,
        tx.tenant_id,
        tx.account_id,
        tx.gateway,
        tx.status.value,
        tx.amount,
        tx.refunded_amount,
        tx.currency,
        json.dumps(tx.details),
        json.dumps(tx.metadata),
        tx.payment_url,
        tx.expires_at,
        tx.deleted_at,
        tx.created_at,
        tx.updated_at,
        json_text(tx.reporting),
    )


def refund_row(refund: Refund) -> tuple[Any, ...]:
    """UPSERT_REFUND's parameters, in REFUND_COLUMNS' order."""
    return (
        refund.id,
        refund.tenant_id,
        refund.transaction_id,
        refund.amount,
        refund.status.value,
        refund.reason,
        refund.error,
        refund.provider_refund_id,
        refund.created_at,
        refund.updated_at,
    )


def transaction_update(tx: Transaction) -> tuple[Any, ...]:
    """UPDATE_TRANSACTION's parameters: the row's key and version, then every other column and the next version."""
    return (tx.id, tx.version, *transaction_row(tx)[1:], tx.version + 1)
