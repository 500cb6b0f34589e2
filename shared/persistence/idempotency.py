"""Idempotency keys: the first answer given for a (tenant, scope, key) is the answer for good."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.tables import idempotency_keys


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    request_hash: str
    status: int
    body: dict[str, Any]


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_REMEMBER = insert(idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.key)
_RECALL = select(idempotency_keys).where(
    idempotency_keys.c.tenant_id == bindparam("tenant"),
    idempotency_keys.c.scope == bindparam("scope"),
    idempotency_keys.c.key == bindparam("key"),
)


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def first_answer(self, tenant_id: uuid.UUID, scope: str, key: str, answer: StoredAnswer) -> StoredAnswer:
        """Store `answer` unless the key was used before; return whichever answer now stands."""
        values = {
            "tenant_id": tenant_id,
            "scope": scope,
            "key": key,
            "request_hash": answer.request_hash,
            "response_status": answer.status,
            "response_body": answer.body,
        }
        async with self._engine.begin() as conn:
            if (await conn.execute(_REMEMBER, values)).first() is not None:
                return answer
            row = (await conn.execute(_RECALL, {"tenant": tenant_id, "scope": scope, "key": key})).mappings().one()
        return StoredAnswer(row["request_hash"], row["response_status"], dict(row["response_body"]))
