"""The integrator's callback signature.

The default form is `X-Billing-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`: the
timestamp is signed with the body, and a call older than TOLERANCE_S, or dated further than that in the
future, is refused, so a captured callback cannot be replayed later. Accounts created with
`"signature": "legacy"` keep the first round's `sha256=<hex HMAC-SHA256 of the raw body>`. Either form is
checked against the account's `secret` and, while it is set, its `previous_secret` (rotation without a
window of refused calls).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Billing-Signature"
TOLERANCE_S = 300
LEGACY = "legacy"


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The header value for `body` signed at `at` (unix seconds; now when omitted)."""
    timestamp = int(time.time()) if at is None else at
    return f"t={timestamp},v1={_hmac(secret, f'{timestamp}.'.encode() + body)}"


def sign_legacy(secret: str, body: bytes) -> str:
    return "sha256=" + _hmac(secret, body)


def signature_valid(
    secrets: Iterable[str | None], body: bytes, header: str | None, *, legacy: bool = False, now: float | None = None
) -> bool:
    """Whether `header` signs `body` with one of `secrets` (and, in the default form, recently enough)."""
    keys = [secret for secret in secrets if secret]
    if header is None or not keys:
        return False
    if legacy:
        given = header.strip().lower()
        return any(hmac.compare_digest(sign_legacy(secret, body), given) for secret in keys)
    parsed = _parse(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_S:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = [_hmac(secret, signed) for secret in keys]
    return any(hmac.compare_digest(want, given) for want in expected for given in signatures)


def _parse(header: str) -> tuple[int, list[str]] | None:
    """`t=<int>,v1=<hex>[,v1=<hex>...]` as (t, [hex, ...]); None when malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures
