"""API keys: `bk_<key id>_<secret>`, stored as a SHA-256 hash and checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Permission(StrEnum):
    VIEW = "billing.view"
    CREATE = "billing.create"
    REFUND = "billing.refund"
    CANCEL = "billing.cancel"
    RECONCILE = "billing.reconcile"
    GATEWAYS_MANAGE = "billing.gateways.manage"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: uuid.UUID
    secret: str
    key_hash: bytes


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: uuid.UUID
    tenant_id: uuid.UUID
    permissions: frozenset[str]
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def issue_key() -> IssuedKey:
    key_id = uuid.uuid4()
    secret = f"bk_{key_id.hex}_{secrets.token_urlsafe(32)}"
    return IssuedKey(key_id, secret, hash_key(secret))


def hash_key(secret: str) -> bytes:
    # The secret carries 256 random bits, so a fast hash is enough (nothing to brute-force).
    return hashlib.sha256(secret.encode()).digest()


def key_id_of(secret: str) -> uuid.UUID | None:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != "bk":
        return None
    try:
        return uuid.UUID(hex=parts[1])
    except ValueError:
        return None


def matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_key(secret), stored_hash)
