"""Merchant webhooks: which events an endpoint takes, what an answer means, when the next attempt is due."""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from shared.domain.events import EventType

ALL_EVENTS = "*"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 32
ATTEMPT_TIMEOUT_S = 10.0
"""Any 2xx within this many seconds delivers; later or anything else is a failed attempt."""
EXCERPT_BYTES = 1024
"""At most this much of an answer's body is read and kept."""
ROTATION_OVERLAP = timedelta(hours=24)
"""After a rotation the old secret signs beside the new one this long."""
DISABLE_AFTER = timedelta(days=5)
"""An endpoint whose every attempt failed for this long is disabled."""
JITTER = 0.1
"""Each delay is stretched or shrunk by up to this fraction, so retries of one outage do not arrive together."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class InvalidEndpoint(ValueError):
    """An endpoint's URL or event list that cannot be accepted; the message says why."""


def event_types(requested: Sequence[str]) -> list[str]:
    """The event list as stored: ["*"] alone, or known event types without duplicates (order kept)."""
    if not requested:
        raise InvalidEndpoint('events must name at least one event type, or be ["*"] for all')
    if ALL_EVENTS in requested:
        if len(requested) > 1:
            raise InvalidEndpoint('"*" already means every event; give it alone')
        return [ALL_EVENTS]
    known = {kind.value for kind in EventType}
    unknown = [name for name in requested if name not in known]
    if unknown:
        raise InvalidEndpoint(f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return list(dict.fromkeys(requested))


def wants(events: Sequence[str], event_type: str) -> bool:
    return ALL_EVENTS in events or event_type in events


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def event_type_of(cloud_event_type: str) -> str:
    """The routing form of a CloudEvents type: `billing.transaction.completed` -> `transaction.completed`."""
    return cloud_event_type.removeprefix("billing.")


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"
    """410: the merchant says the endpoint is no more; it is disabled."""


def verdict(status_code: int | None) -> Verdict:
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.GONE
    return Verdict.RETRY


def retry_delay(schedule: Sequence[float], attempts_made: int, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones (with jitter), None when the schedule is
    spent. A delivery thus gets one attempt more than the schedule has delays."""
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    return schedule[attempts_made - 1] * (rng or random).uniform(1 - JITTER, 1 + JITTER)


@dataclass(frozen=True, slots=True)
class Signing:
    """The secrets an endpoint signs with now: the current one, and the previous one during a rotation."""

    current: str
    previous: str | None = None
