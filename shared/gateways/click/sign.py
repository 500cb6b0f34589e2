"""Click's signatures: MD5 over the SHOP API fields as received, SHA-1 for the Merchant API `Auth` header."""

from __future__ import annotations

import hashlib
import hmac


def prepare_sign(
    secret_key: str,
    *,
    click_trans_id: str,
    service_id: str,
    merchant_trans_id: str,
    amount: str,
    action: str,
    sign_time: str,
) -> str:
    """The Prepare `sign_string`; every argument is the string exactly as Click sent it."""
    plain = f"{click_trans_id}{service_id}{secret_key}{merchant_trans_id}{amount}{action}{sign_time}"
    return hashlib.md5(plain.encode(), usedforsecurity=False).hexdigest()


def complete_sign(
    secret_key: str,
    *,
    click_trans_id: str,
    service_id: str,
    merchant_trans_id: str,
    merchant_prepare_id: str,
    amount: str,
    action: str,
    sign_time: str,
) -> str:
    """The Complete `sign_string`: Prepare's with `merchant_prepare_id` after `merchant_trans_id`."""
    plain = (
        f"{click_trans_id}{service_id}{secret_key}{merchant_trans_id}{merchant_prepare_id}{amount}{action}{sign_time}"
    )
    return hashlib.md5(plain.encode(), usedforsecurity=False).hexdigest()


def sign_matches(expected: str, received: str) -> bool:
    """Constant-time, so the time taken tells nothing about how much of a forged sign was right."""
    return hmac.compare_digest(expected.encode(), received.strip().lower().encode())


def auth_header(merchant_user_id: int, secret_key: str, timestamp: int) -> str:
    """The Merchant API `Auth` header: `<merchant_user_id>:<sha1hex(timestamp + secret_key)>:<timestamp>`."""
    digest = hashlib.sha1(f"{timestamp}{secret_key}".encode(), usedforsecurity=False).hexdigest()
    return f"{merchant_user_id}:{digest}:{timestamp}"
