"""The outbox as the relay sees it: claim the oldest unsent events, mark them sent, measure the backlog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import tracing
from shared.persistence import driver

# The body goes out as PostgreSQL stored it (no decode and re-encode); the header and trace fields are read
# beside it. A replica takes a transaction's events only if it gets that transaction's advisory lock (held
# until its commit), so with several relays all unsent events of one transaction go out through one of them,
# in order; events of other transactions go to whichever relay locks them first. The oldest unsent rows are
# picked first (`candidates`), so the locks are tried on those rows only, whatever plan PostgreSQL chooses.
# `webhooks` says whether an enabled endpoint of the event's tenant wants it: read in the claim's snapshot,
# which is newer than the event's commit, so an endpoint committed before the event always counts (no cache,
# no notice to wait for). The body's `tenantid` is cast only when it looks like a UUID: a row written by hand
# with anything else there is published all the same (to no endpoint), instead of failing every claim.
OUTBOX_LOCKS = 0x0B0C
"""The first key of the relay's advisory locks (the second is the hash of the event's subject)."""
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CLAIM = (
    "WITH candidates AS ("
    " SELECT id, coalesce(body->>'subject', '') AS subject FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1"
    ") SELECT o.id, o.event_id, o.routing_key, o.body::text AS body, o.body->>'subject' AS subject,"
    " o.body->>'tenantid' AS tenantid, o.body->>'traceparent' AS traceparent, o.body->>'tracestate' AS tracestate,"
    " EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.tenant_id = CASE WHEN o.body->>'tenantid' ~* "
    f"'{UUID_PATTERN}' THEN (o.body->>'tenantid')::uuid END AND e.enabled"
    " AND ('*' = ANY(e.events) OR o.routing_key = ANY(e.events))) AS webhooks"
    " FROM outbox o JOIN candidates c ON c.id = o.id"
    f" WHERE o.sent_at IS NULL AND pg_try_advisory_xact_lock({OUTBOX_LOCKS}, hashtext(c.subject))"
    " ORDER BY o.id FOR UPDATE OF o SKIP LOCKED"
)
MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
BACKLOG = (
    "SELECT count(*) AS unsent, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS lag "
    "FROM outbox WHERE sent_at IS NULL"
)


@dataclass(frozen=True, slots=True)
class UnsentEvent:
    """One committed event waiting for the broker, its CloudEvents body as stored."""

    id: int
    event_id: str
    routing_key: str
    body: str
    subject: str | None
    tenant_id: str | None
    trace: dict[str, str]
    """The change's `traceparent` and `tracestate`, where it had them."""
    webhooks: bool
    """An enabled webhook endpoint of the event's tenant wants it: the event goes to the webhooks worker too."""


class UnsentBatch:
    """Events claimed in one database transaction: locked until it ends, sent only once marked."""

    def __init__(self, db: asyncpg.Connection, events: list[UnsentEvent]) -> None:
        self._db = db
        self.events = events

    async def mark_sent(self) -> None:
        if self.events:
            await self._db.execute(MARK_SENT, [event.id for event in self.events])


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def unsent(self, limit: int) -> AsyncIterator[UnsentBatch]:
        """The oldest unsent events this relay may take; what is not marked sent stays unsent at the block's end."""
        async with driver.connection(self._engine) as db, db.transaction():
            rows = await db.fetch(CLAIM, limit)
            yield UnsentBatch(db, [_unsent(row) for row in rows])

    async def backlog(self) -> tuple[int, float]:
        """How many events are unsent, and the age in seconds of the oldest."""
        async with driver.connection(self._engine) as db:
            row = await db.fetchrow(BACKLOG)
        return int(row["unsent"]), float(row["lag"])


def _unsent(row: asyncpg.Record) -> UnsentEvent:
    trace = {name: row[name] for name in tracing.TRACE_FIELDS if row[name]}
    return UnsentEvent(
        id=row["id"],
        event_id=str(row["event_id"]),
        routing_key=row["routing_key"],
        body=row["body"],
        subject=row["subject"],
        tenant_id=row["tenantid"],
        trace=trace,
        webhooks=row["webhooks"],
    )
