"""The one place that knows how Octo signs its notifications (gateways.md: keep the scheme in one function)."""

from __future__ import annotations

import hashlib
import hmac


def notify_signature(unique_key: str, payment_uuid: str, status: str) -> str:
    """Octo's notify signature: upper-case SHA-1 hex of unique_key + octo_payment_UUID + status."""
    # SHA-1 is Octo's choice, not ours; the older hash_key variant would change only this line.
    digest = hashlib.sha1((unique_key + payment_uuid + status).encode())  # noqa: S324
    return digest.hexdigest().upper()


def signature_valid(unique_key: str, payment_uuid: str, status: str, received: str | None) -> bool:
    """Compare case-insensitively (Octo sends upper case) and in constant time."""
    if not received:
        return False
    expected = notify_signature(unique_key, payment_uuid, status).encode()
    return hmac.compare_digest(expected, received.strip().upper().encode())
