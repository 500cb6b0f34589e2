"""API-key authentication and permission checks for the command API."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from shared import logs
from shared.clock import utc_now
from shared.persistence.api_keys import authenticate
from shared.security.apikeys import Permission, Principal

CACHE_TTL_S = 3.0
"""How long a replica trusts a lookup. A key revoked through this replica is dropped at once; every other
replica refuses it within this time (the contract's bound is 5 s), so no cross-replica signal is needed."""
CACHE_MAX = 10_000


class KeyCache:
    """Keeps recent lookups for a few seconds: a revoked key stops working within CACHE_TTL_S."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, Principal | None]] = {}

    def get(self, secret: str) -> tuple[bool, Principal | None]:
        entry = self._entries.get(_digest(secret))
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, secret: str, principal: Principal | None) -> None:
        if len(self._entries) >= CACHE_MAX:
            self._entries.clear()
        self._entries[_digest(secret)] = (time.monotonic() + CACHE_TTL_S, principal)

    def forget(self, key_id: uuid.UUID) -> None:
        """Drop a revoked key's lookups now (this replica); others expire within CACHE_TTL_S."""
        for digest, (_, found) in list(self._entries.items()):
            if found is not None and found.key_id == key_id:
                del self._entries[digest]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def principal(
    request: Request,
    ctx: Annotated[Ingress, Depends(ingress)],
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Problem(401, "unauthenticated", "send the API key as `Authorization: Bearer <key>`")
    secret = authorization[7:].strip()
    cached, found = ctx.keys.get(secret)
    if not cached:
        found = await authenticate(ctx.engine, secret)
        ctx.keys.put(secret, found)
    if found is None:
        raise Problem(401, "invalid_api_key", "the API key is unknown or revoked")
    if found.expired(utc_now()):
        raise Problem(401, "api_key_expired", "the API key has expired")
    request.state.principal = found
    decision = ctx.buckets.take(found.key_id)
    request.state.response_headers = decision.headers()  # RequestObservability adds them to the answer
    if not decision.allowed:
        raise Problem(
            429,
            "rate_limited",
            f"this API key has used its {decision.limit} requests; retry in {decision.retry_after_s} s",
        )
    logs.bind(tenant_id=found.tenant_id, key_id=found.key_id)
    return found


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if permission.value not in who.permissions:
            raise Problem(403, "permission_denied", f"this API key lacks the permission {permission.value}")
        return who

    return check
