"""Per-API-key token buckets, kept in this replica's memory.

Each key may spend `burst` requests at once and earns `rate` back every second. The buckets are not shared
between ingress replicas: with N replicas behind a balancer a key gets up to N x rate (docs/security.md).
That keeps the check free of a network round trip; a shared limit would need Redis or PostgreSQL per request.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

MAX_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    """Seconds until the bucket is full again (RateLimit-Reset)."""
    retry_after_s: int
    """Seconds until the next request would be allowed (Retry-After); 0 when allowed now."""

    def headers(self) -> dict[str, str]:
        """The IETF draft's RateLimit-Limit/-Remaining/-Reset fields, plus Retry-After on a refusal."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            fields["Retry-After"] = str(self.retry_after_s)
        return fields


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}  # key id -> (tokens, when counted)

    def take(self, key_id: uuid.UUID) -> Decision:
        now = self._clock()
        tokens, then = self._buckets.get(key_id, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - then) * self._rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) >= MAX_BUCKETS and key_id not in self._buckets:
            self._forget_full(now)
        self._buckets[key_id] = (tokens, now)
        return Decision(
            allowed=allowed,
            limit=self._burst,
            remaining=int(tokens),
            reset_s=math.ceil((self._burst - tokens) / self._rate),
            retry_after_s=0 if allowed else max(1, math.ceil((1.0 - tokens) / self._rate)),
        )

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing a client could notice."""
        for key_id, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self._rate >= self._burst:
                del self._buckets[key_id]
        if len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()
