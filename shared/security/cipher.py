"""Encrypts gateway credentials at rest (Fernet: AES-128-CBC with HMAC-SHA256), with key rotation.

BILLING_SECRET_KEY holds one or more comma-separated Fernet keys: the first seals, every one opens
(MultiFernet), so a new key is put first, `billing secrets rotate` re-seals everything under it, and the
old key can then be dropped.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CredentialsUnreadable(Exception):
    """The stored credentials do not decrypt with any key of this BILLING_SECRET_KEY."""


def fernet_keys(keys: str) -> list[str]:
    """The keys of a BILLING_SECRET_KEY value, in order (the first seals)."""
    return [key.strip() for key in keys.split(",") if key.strip()]


class Cipher:
    def __init__(self, keys: str) -> None:
        fernets = [Fernet(key.encode()) for key in fernet_keys(keys)]
        if not fernets:
            raise ValueError("no Fernet key given")
        self._current = fernets[0]
        self._fernet = MultiFernet(fernets)
        # Accounts are read for every gateway call: a token once verified and decrypted is not decrypted again.
        self._decrypt = functools.lru_cache(maxsize=1024)(self._fernet.decrypt)

    def seal(self, secrets: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._decrypt(bytes(token)))
        except InvalidToken:
            raise CredentialsUnreadable("gateway credentials do not decrypt with BILLING_SECRET_KEY") from None
        return opened

    def reseal(self, token: bytes) -> bytes:
        """The same credentials sealed under the first key (CredentialsUnreadable if no key opens them)."""
        try:
            return self._fernet.rotate(bytes(token))
        except InvalidToken:
            raise CredentialsUnreadable("gateway credentials do not decrypt with BILLING_SECRET_KEY") from None

    def under_first_key(self, token: bytes) -> bool:
        """Whether the first key opens the token (False: an older key, or none, sealed it)."""
        try:
            self._current.decrypt(bytes(token))
        except InvalidToken:
            return False
        return True
