"""Idempotency keys: the first answer given for a (tenant, scope, key) is the answer for good."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence import driver


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    request_hash: str
    status: int
    body: dict[str, Any]


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Each statement stands alone: the insert either stores the answer or finds the one stored before it.
_REMEMBER = (
    "INSERT INTO idempotency_keys (tenant_id, scope, key, request_hash, response_status, response_body) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING key"
)
_RECALL = (
    "SELECT request_hash, response_status, response_body FROM idempotency_keys "
    "WHERE tenant_id = $1 AND scope = $2 AND key = $3"
)


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def first_answer(self, tenant_id: uuid.UUID, scope: str, key: str, answer: StoredAnswer) -> StoredAnswer:
        """Store `answer` unless the key was used before; return whichever answer now stands."""
        async with driver.connection(self._engine) as db:
            stored = await db.fetchval(
                _REMEMBER, tenant_id, scope, key, answer.request_hash, answer.status, json.dumps(answer.body)
            )
            if stored is not None:
                return answer
            row = await db.fetchrow(_RECALL, tenant_id, scope, key)
        return StoredAnswer(row["request_hash"], row["response_status"], dict(row["response_body"]))
