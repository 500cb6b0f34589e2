"""Encrypts gateway credentials at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class CredentialsUnreadable(Exception):
    """The stored credentials do not decrypt with this BILLING_SECRET_KEY."""


class Cipher:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())
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
