"""The outbox relay: publishes committed events to billing.events with confirms, then marks them sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import metrics, tracing
from shared.broker.publisher import BrokerUnavailable, ConfirmedPublisher
from shared.messages import EVENTS_EXCHANGE
from shared.persistence import driver
from shared.persistence.unit_of_work import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

# The body goes out as PostgreSQL stored it (no decode and re-encode); the header and trace fields are read
# beside it. A replica takes a transaction's events only if it gets that transaction's advisory lock (held
# until its commit), so with several relays all unsent events of one transaction go out through one of them,
# in order; events of other transactions go to whichever relay locks them first. The oldest unsent rows are
# picked first (`candidates`), so the locks are tried on those rows only, whatever plan PostgreSQL chooses.
OUTBOX_LOCKS = 0x0B0C
"""The first key of the relay's advisory locks (the second is the hash of the event's subject)."""
CLAIM = (
    "WITH candidates AS ("
    " SELECT id, coalesce(body->>'subject', '') AS subject FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1"
    ") SELECT o.id, o.event_id, o.routing_key, o.body::text AS body, o.body->>'subject' AS subject,"
    " o.body->>'tenantid' AS tenantid, o.body->>'traceparent' AS traceparent, o.body->>'tracestate' AS tracestate"
    " FROM outbox o JOIN candidates c ON c.id = o.id"
    f" WHERE o.sent_at IS NULL AND pg_try_advisory_xact_lock({OUTBOX_LOCKS}, hashtext(c.subject))"
    " ORDER BY o.id FOR UPDATE OF o SKIP LOCKED"
)
MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"
BACKLOG = (
    "SELECT count(*) AS unsent, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS lag "
    "FROM outbox WHERE sent_at IS NULL"
)
DATABASE_ERRORS = (asyncpg.PostgresError, SQLAlchemyError, *driver.LOST)
LISTEN_CONNECT_TIMEOUT_S = 5.0
MEASURE_EVERY_S = 1.0
"""The backlog query runs at most this often, however many drains a busy second has."""


class OutboxRelay:
    """At-least-once: a row is marked sent only after RabbitMQ confirmed it; replicas split the transactions."""

    def __init__(self, engine: AsyncEngine, publisher: ConfirmedPublisher, listen_dsn: str, batch: int = 200) -> None:
        self._engine = engine
        self._publisher = publisher
        self._listen_dsn = listen_dsn
        self._batch = batch
        self._wake = asyncio.Event()
        self._measured_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        listener: asyncpg.Connection | None = None
        try:
            while not stop.is_set():
                if listener is None or listener.is_closed():
                    # At start, and after PostgreSQL dropped the connection (a restart): until then, polling.
                    listener = await self._listen()
                # Cleared before draining: a NOTIFY that lands during the drain wakes the next round at once.
                self._wake.clear()
                try:
                    sent = await self.drain_once()
                except (BrokerUnavailable, *DATABASE_ERRORS) as exc:
                    log.warning("outbox relay: %s; retrying", exc)
                    sent = 0
                    await asyncio.sleep(1.0)
                await self._measure()
                if sent >= self._batch:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            connection = await asyncpg.connect(self._listen_dsn, timeout=LISTEN_CONNECT_TIMEOUT_S)
            await connection.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
            return connection
        except (TimeoutError, *DATABASE_ERRORS) as exc:
            log.warning("outbox relay polls without LISTEN: %s", exc)
            return None

    async def _measure(self) -> None:
        """Outbox lag and backlog for /metrics; also while RabbitMQ is down, when they matter most."""
        now = time.monotonic()
        if now - self._measured_at < MEASURE_EVERY_S:
            return
        self._measured_at = now
        try:
            async with driver.connection(self._engine) as db:
                row = await db.fetchrow(BACKLOG)
        except DATABASE_ERRORS as exc:
            log.warning("outbox relay cannot measure the backlog: %s", exc)
            return
        metrics.OUTBOX_UNSENT.set(row["unsent"])
        metrics.OUTBOX_LAG.set(float(row["lag"]))

    async def drain_once(self) -> int:
        async with driver.connection(self._engine) as db, db.transaction():
            rows = await db.fetch(CLAIM, self._batch)
            if not rows:
                return 0
            by_subject: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                by_subject[str(row["subject"])].append(row)
            # Events of one transaction go out in order; different transactions go out side by side.
            await asyncio.gather(*(self._publish_in_order(group) for group in by_subject.values()))
            await db.execute(MARK_SENT, [row["id"] for row in rows])
        for row in rows:
            metrics.EVENTS_RELAYED.labels(row["routing_key"]).inc()
        return len(rows)

    async def _publish_in_order(self, rows: list[Any]) -> None:
        for row in rows:
            # The event's publish joins the trace of the change that produced it (CloudEvents `traceparent`).
            trace = {name: row[name] for name in tracing.TRACE_FIELDS if row[name]}
            with tracing.span("outbox relay", tracing.SpanKind.INTERNAL, parent=trace):
                await self._publisher.publish(
                    EVENTS_EXCHANGE,
                    row["routing_key"],
                    row["body"].encode(),
                    message_id=str(row["event_id"]),
                    mandatory=False,
                    content_type="application/cloudevents+json",
                    headers={"tenantid": row["tenantid"] or "", "subject": row["subject"] or ""},
                )
