"""Merchant webhook endpoints, their deliveries and attempts: the SQL of the endpoints API and the worker."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.domain.events import DomainEvent, EventType
from shared.domain.webhooks import DeliveryStatus, Signing
from shared.messages import cloud_event
from shared.persistence import driver
from shared.persistence.tables import outbox, webhook_attempts, webhook_deliveries, webhook_endpoints
from shared.security.cipher import Cipher


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptView:
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: list[AttemptView]
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A due delivery leased to one worker, with what it needs to send it."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    tenant_id: uuid.UUID
    event_id: uuid.UUID
    body: str
    attempt_count: int
    url: str
    secrets: list[str]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to."""

    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None


def _sealed(cipher: Cipher, signing: Signing) -> bytes:
    return cipher.seal({"current": signing.current, "previous": signing.previous})


def _signing(cipher: Cipher, token: bytes) -> Signing:
    opened = cipher.open(token)
    return Signing(current=str(opened["current"]), previous=opened.get("previous"))


def _endpoint(row: Any) -> EndpointView:
    return EndpointView(
        id=row["id"],
        tenant_id=row["tenant_id"],
        url=row["url"],
        events=list(row["events"]),
        description=row["description"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class WebhookEndpoints:
    """One tenant's endpoints: nothing here reads or changes another tenant's rows."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher, tenant_id: uuid.UUID) -> None:
        self._engine = engine
        self._cipher = cipher
        self._tenant_id = tenant_id

    async def add(self, url: str, events: list[str], description: str | None, secret: str) -> EndpointView:
        endpoint_id = uuid.uuid4()
        async with driver.core(self._engine, begin=True) as conn:
            row = (
                await conn.execute(
                    insert(webhook_endpoints)
                    .values(
                        id=endpoint_id,
                        tenant_id=self._tenant_id,
                        url=url,
                        events=events,
                        description=description,
                        secrets=_sealed(self._cipher, Signing(secret)),
                    )
                    .returning(webhook_endpoints)
                )
            ).mappings()
            return _endpoint(row.one())

    async def all(self) -> list[EndpointView]:
        query = (
            select(webhook_endpoints)
            .where(webhook_endpoints.c.tenant_id == self._tenant_id)
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        )
        async with driver.core(self._engine) as conn:
            return [_endpoint(row) for row in (await conn.execute(query)).mappings()]

    async def get(self, endpoint_id: uuid.UUID) -> EndpointView | None:
        async with driver.core(self._engine) as conn:
            row = (await conn.execute(self._one(endpoint_id))).mappings().first()
        return None if row is None else _endpoint(row)

    async def update(self, endpoint_id: uuid.UUID, changes: dict[str, Any]) -> EndpointView | None:
        """Apply `changes` (url, events, description, enabled); enabling clears the failure record."""
        values = {**changes, "updated_at": text("now()")}
        if changes.get("enabled") is True:
            values.update(disabled_reason=None, failing_since=None)
        async with driver.core(self._engine, begin=True) as conn:
            row = (
                await conn.execute(
                    update(webhook_endpoints)
                    .where(webhook_endpoints.c.tenant_id == self._tenant_id, webhook_endpoints.c.id == endpoint_id)
                    .values(**values)
                    .returning(webhook_endpoints)
                )
            ).mappings()
            found = row.first()
        return None if found is None else _endpoint(found)

    async def remove(self, endpoint_id: uuid.UUID) -> bool:
        """Delete the endpoint with its deliveries and attempts."""
        async with driver.core(self._engine, begin=True) as conn:
            result = await conn.execute(
                delete(webhook_endpoints).where(
                    webhook_endpoints.c.tenant_id == self._tenant_id, webhook_endpoints.c.id == endpoint_id
                )
            )
        return bool(result.rowcount)

    async def rotate(self, endpoint_id: uuid.UUID, secret: str, overlap_s: float) -> bool:
        """Make `secret` the signing secret; the current one keeps signing beside it for `overlap_s` seconds."""
        async with driver.core(self._engine, begin=True) as conn:
            row = (await conn.execute(self._one(endpoint_id).with_for_update())).mappings().first()
            if row is None:
                return False
            current = _signing(self._cipher, row["secrets"]).current
            await conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint_id)
                .values(
                    secrets=_sealed(self._cipher, Signing(secret, previous=current)),
                    previous_secret_until=text(f"now() + interval '{float(overlap_s)} seconds'"),
                    updated_at=text("now()"),
                )
            )
        return True

    async def deliveries(self, endpoint_id: uuid.UUID, limit: int) -> list[DeliveryView] | None:
        """The endpoint's newest deliveries with their attempts (oldest attempt first); None without the endpoint."""
        d = webhook_deliveries
        async with driver.core(self._engine) as conn:
            if (await conn.execute(self._one(endpoint_id))).first() is None:
                return None
            rows = (
                await conn.execute(
                    select(d.c.id, d.c.event_id, d.c.event_type, d.c.status, d.c.next_attempt_at, d.c.created_at)
                    .where(d.c.endpoint_id == endpoint_id, d.c.tenant_id == self._tenant_id)
                    .order_by(d.c.created_at.desc(), d.c.id)
                    .limit(limit)
                )
            ).mappings()
            found = list(rows)
            attempts: dict[uuid.UUID, list[AttemptView]] = {row["id"]: [] for row in found}
            if found:
                a = webhook_attempts
                for row in (
                    await conn.execute(
                        select(a).where(a.c.delivery_id.in_(list(attempts))).order_by(a.c.delivery_id, a.c.id)
                    )
                ).mappings():
                    attempts[row["delivery_id"]].append(
                        AttemptView(
                            at=row["at"],
                            status_code=row["status_code"],
                            duration_ms=row["duration_ms"],
                            error=row["error"],
                            response_excerpt=row["response_excerpt"],
                        )
                    )
        return [
            DeliveryView(
                id=row["id"],
                event_id=row["event_id"],
                event_type=row["event_type"],
                status=row["status"],
                attempts=attempts[row["id"]],
                next_attempt_at=row["next_attempt_at"],
                created_at=row["created_at"],
            )
            for row in found
        ]

    async def retry(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> bool:
        """Make a delivery due now (whatever its status); False when it is not this endpoint's."""
        d = webhook_deliveries
        async with driver.core(self._engine, begin=True) as conn:
            result = await conn.execute(
                update(d)
                .where(d.c.id == delivery_id, d.c.endpoint_id == endpoint_id, d.c.tenant_id == self._tenant_id)
                .values(
                    status=DeliveryStatus.PENDING.value,
                    next_attempt_at=text("now()"),
                    leased_until=None,
                    updated_at=text("now()"),
                )
            )
        return bool(result.rowcount)

    def _one(self, endpoint_id: uuid.UUID) -> Any:
        return select(webhook_endpoints).where(
            webhook_endpoints.c.tenant_id == self._tenant_id, webhook_endpoints.c.id == endpoint_id
        )


RECORD = (
    "INSERT INTO webhook_deliveries (id, endpoint_id, tenant_id, event_id, event_type, body, status, next_attempt_at)"
    " SELECT gen_random_uuid(), e.id, e.tenant_id, $2::uuid, $3::text, $4::text, 'pending', now()"
    " FROM webhook_endpoints e"
    " WHERE e.tenant_id = $1::uuid AND e.enabled AND ('*' = ANY(e.events) OR $3::text = ANY(e.events))"
    " ON CONFLICT (endpoint_id, event_id) DO NOTHING"
)
"""One delivery per enabled endpoint of the event's tenant that wants it; a redelivered event adds none."""

DUE = "d.status = 'pending' AND d.next_attempt_at <= now() AND (d.leased_until IS NULL OR d.leased_until <= now())"
"""A delivery `d` whose attempt is due and that no worker holds a lease on."""
LOCK_DUE_ENDPOINTS = (
    "SELECT e.id FROM webhook_endpoints e WHERE e.enabled AND e.id IN ("
    f" SELECT d.endpoint_id FROM webhook_deliveries d WHERE {DUE})"
    " FOR NO KEY UPDATE OF e SKIP LOCKED"
)
"""The enabled endpoints with a due delivery that no other worker is claiming for right now, locked until commit."""
# Per locked endpoint, its oldest due deliveries up to what its cap leaves free (leases held by every replica
# count), through the (endpoint_id, next_attempt_at) index: a claim costs a few index probes per endpoint,
# however long any one endpoint's backlog is, and a backlog on one endpoint never crowds out the others.
# SKIP LOCKED lets replicas polling together split the rows; PostgreSQL re-checks the lease conditions on the
# row version it locks, so a row leased by a replica that committed meanwhile is not taken twice.
CLAIM = (
    "WITH picked AS ("
    " SELECT due.id, due.next_attempt_at FROM webhook_endpoints e"
    " CROSS JOIN LATERAL (SELECT count(*) AS n FROM webhook_deliveries b"
    "  WHERE b.endpoint_id = e.id AND b.status = 'pending' AND b.leased_until IS NOT NULL"
    "  AND b.leased_until > now()) busy"
    " CROSS JOIN LATERAL (SELECT d.id, d.next_attempt_at FROM webhook_deliveries d"
    f"  WHERE d.endpoint_id = e.id AND {DUE}"
    "  ORDER BY d.next_attempt_at LIMIT greatest($1::int - busy.n, 0) FOR UPDATE SKIP LOCKED) due"
    " WHERE e.id = ANY($4::uuid[]) ORDER BY due.next_attempt_at LIMIT $2::int"
    ") UPDATE webhook_deliveries d SET leased_until = now() + $3::float8 * interval '1 second'"
    " FROM picked, webhook_endpoints e WHERE d.id = picked.id AND e.id = d.endpoint_id"
    " RETURNING d.id, d.endpoint_id, d.tenant_id, d.event_id, d.body, d.attempt_count, e.url, e.secrets,"
    " coalesce(e.previous_secret_until > now(), false) AS previous_active"
)
ADD_ATTEMPT = text(
    "INSERT INTO webhook_attempts (delivery_id, at, status_code, duration_ms, error, response_excerpt)"
    " SELECT :id, :at, :status_code, :duration_ms, :error, :excerpt"
    " WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = :id)"
)
DELIVERED = (
    "WITH attempt AS ("
    " INSERT INTO webhook_attempts (delivery_id, at, status_code, duration_ms, error, response_excerpt)"
    " SELECT id, $2::timestamptz, $3::int, $4::int, $5::text, $6::text FROM webhook_deliveries WHERE id = $1::uuid"
    "), done AS ("
    " UPDATE webhook_deliveries SET status = 'delivered', attempt_count = attempt_count + 1,"
    " next_attempt_at = NULL, leased_until = NULL, updated_at = now() WHERE id = $1::uuid AND status = 'pending'"
    " RETURNING endpoint_id"
    ") UPDATE webhook_endpoints SET failing_since = NULL"
    " WHERE id IN (SELECT endpoint_id FROM done) AND failing_since IS NOT NULL"
)
"""A delivered attempt in one statement (one round trip, no BEGIN/COMMIT): its attempt, the delivery, the endpoint."""
FAILED_ATTEMPT = text(
    "UPDATE webhook_deliveries SET attempt_count = attempt_count + 1, leased_until = NULL, updated_at = now(),"
    " status = CASE WHEN CAST(:delay_s AS float8) IS NULL THEN 'failed' ELSE 'pending' END,"
    " next_attempt_at = now() + CAST(:delay_s AS float8) * interval '1 second'"
    " WHERE id = :id AND status = 'pending'"
)
ENDPOINT_FAILING = text(
    "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()) WHERE id = :id"
    " RETURNING enabled AND failing_since <= now() - :disable_after_s * interval '1 second' AS overdue"
)
DISABLE = text(
    "UPDATE webhook_endpoints SET enabled = false, disabled_reason = :reason, updated_at = now()"
    " WHERE id = :id AND enabled RETURNING *"
)


class WebhookDeliveries:
    """The worker's side: record deliveries for events, lease due ones, and write down what each attempt got."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self._engine = engine
        self._cipher = cipher

    # The worker's three statements per delivery stand alone, so they run on asyncpg directly: no SQLAlchemy
    # layer and no BEGIN/COMMIT round trips (each commits on its own).

    async def record(self, tenant_id: uuid.UUID, event_id: uuid.UUID, event_type: str, body: str) -> int:
        """Deliveries made for one event (0 for a redelivered one, or when no endpoint wants it)."""
        async with driver.connection(self._engine) as db:
            status = await db.execute(RECORD, tenant_id, event_id, event_type, body)
        return int(status.rsplit(" ", 1)[-1])

    async def claim(self, limit: int, per_endpoint: int, lease_s: float) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries, at most `per_endpoint` leased per endpoint across every worker.

        Two statements in one transaction: the first locks the endpoints, the second counts their leases and takes
        more. The second's snapshot is newer than every lock it waited for, so a worker that claimed for the same
        endpoint a moment ago has committed and its leases count (one statement would count from an older snapshot).
        """
        async with driver.connection(self._engine) as db, db.transaction():
            endpoints = [row["id"] for row in await db.fetch(LOCK_DUE_ENDPOINTS)]
            if not endpoints:
                return []
            claimed = await db.fetch(CLAIM, per_endpoint, limit, lease_s, endpoints)
        return [
            ClaimedDelivery(
                id=row["id"],
                endpoint_id=row["endpoint_id"],
                tenant_id=row["tenant_id"],
                event_id=row["event_id"],
                body=row["body"],
                attempt_count=row["attempt_count"],
                url=row["url"],
                secrets=self._active(row["secrets"], row["previous_active"]),
            )
            for row in claimed
        ]

    async def delivered(self, claimed: ClaimedDelivery, attempt: Attempt) -> None:
        async with driver.connection(self._engine) as db:
            await db.execute(
                DELIVERED,
                claimed.id,
                attempt.at,
                attempt.status_code,
                attempt.duration_ms,
                attempt.error,
                attempt.response_excerpt,
            )

    async def failed(
        self, claimed: ClaimedDelivery, attempt: Attempt, delay_s: float | None, disable_after_s: float
    ) -> bool:
        """Write down a failed attempt and when the next is due (None: never); True when the endpoint was disabled
        for failing every attempt for `disable_after_s`."""
        async with driver.core(self._engine, begin=True) as conn:
            await self._add_attempt(conn, claimed, attempt)
            await conn.execute(FAILED_ATTEMPT, {"id": claimed.id, "delay_s": delay_s})
            overdue = (
                await conn.execute(ENDPOINT_FAILING, {"id": claimed.endpoint_id, "disable_after_s": disable_after_s})
            ).scalar()
            if not overdue:
                return False
            return await self._disable(conn, claimed.endpoint_id, "failing_for_days")

    async def gone(self, claimed: ClaimedDelivery, attempt: Attempt) -> bool:
        """The endpoint answered 410 Gone: this delivery fails for good and the endpoint is disabled."""
        async with driver.core(self._engine, begin=True) as conn:
            await self._add_attempt(conn, claimed, attempt)
            await conn.execute(FAILED_ATTEMPT, {"id": claimed.id, "delay_s": None})
            return await self._disable(conn, claimed.endpoint_id, "gone")

    async def _add_attempt(self, conn: AsyncConnection, claimed: ClaimedDelivery, attempt: Attempt) -> None:
        await conn.execute(ADD_ATTEMPT, _attempt_parameters(claimed, attempt))

    async def _disable(self, conn: AsyncConnection, endpoint_id: uuid.UUID, reason: str) -> bool:
        """Disable the endpoint and say so on billing.events (through the outbox, in this transaction)."""
        row = (await conn.execute(DISABLE, {"id": endpoint_id, "reason": reason})).mappings().first()
        if row is None:
            return False  # disabled already, or deleted
        endpoint = _endpoint(row)
        event = DomainEvent(
            type=EventType.WEBHOOK_ENDPOINT_DISABLED,
            tenant_id=endpoint.tenant_id,
            subject=endpoint.id,
            data={**endpoint_json(endpoint), "reason": reason},
        )
        await conn.execute(
            insert(outbox).values(
                event_id=event.id, routing_key=event.type.value, body=json.loads(json.dumps(cloud_event(event)))
            )
        )
        return True

    def _active(self, token: bytes, previous_active: bool) -> list[str]:
        signing = _signing(self._cipher, token)
        if previous_active and signing.previous:
            return [signing.current, signing.previous]
        return [signing.current]


def _attempt_parameters(claimed: ClaimedDelivery, attempt: Attempt) -> dict[str, Any]:
    return {
        "id": claimed.id,
        "at": attempt.at,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "excerpt": attempt.response_excerpt,
    }


def rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def endpoint_json(view: EndpointView) -> dict[str, Any]:
    """An endpoint as the API shows it (never its secret)."""
    return {
        "id": str(view.id),
        "url": view.url,
        "events": view.events,
        "description": view.description,
        "enabled": view.enabled,
        "created_at": rfc3339(view.created_at),
    }


def delivery_json(view: DeliveryView) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "event_id": str(view.event_id),
        "event_type": view.event_type,
        "status": view.status,
        "attempts": [
            {
                "at": rfc3339(a.at),
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
                "response_excerpt": a.response_excerpt,
            }
            for a in view.attempts
        ],
        "next_attempt_at": rfc3339(view.next_attempt_at),
        "created_at": rfc3339(view.created_at),
    }
