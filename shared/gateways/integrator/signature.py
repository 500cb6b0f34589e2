"""The integrator's callback signature: `sha256=<hex HMAC-SHA256 of the raw body with the account secret>`."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Billing-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip().lower())
