"""The bank's wire format: the signed callback, and the answers it gets."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SIGNATURE_HEADER = "X-Bank-Signature"
OPERATION = "callback"


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body with the account's secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip().lower())


class TransferCallback(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_id: uuid.UUID
    status: Literal["credited", "rejected"]
    amount: int = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    bank_reference: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class CallbackAnswer(BaseModel):
    """What the bank gets back, and with which HTTP status."""

    http_status: int = 200
    status: Literal["accepted", "refused"] = "accepted"
    reason: str | None = None

    def body(self) -> dict[str, str]:
        return {"status": self.status} if self.reason is None else {"status": self.status, "reason": self.reason}


def refused(http_status: int, reason: str) -> CallbackAnswer:
    return CallbackAnswer(http_status=http_status, status="refused", reason=reason)
