"""Payme's side of the Merchant API for tests: numbered JSON-RPC calls with Basic credentials."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.payme.protocol import basic_header
from shared.security.cipher import Cipher
from tests.support.world import TenantWorld, make_tenant

KEY = "fkWW6UNrzvzyV6DhrdHJ6aEhr3dRcvJYkaGx"
MERCHANT = "587f72c72cac0d162c722ae2"
JSON_UTF8 = "application/json; charset=UTF-8"


def payme_id() -> str:
    return secrets.token_hex(12)


def now_ms() -> int:
    return int(time.time() * 1000)


async def payme_tenant(engine: AsyncEngine, cipher: Cipher, **config: Any) -> TenantWorld:
    """A fresh tenant with one Payme account: Payme ids are unique per account, so tests never collide."""
    return await make_tenant(engine, cipher, configs={"payme": {"merchant_id": MERCHANT, "key": KEY, **config}})


@dataclass
class Payme:
    http: httpx.AsyncClient
    account_id: uuid.UUID | str
    key: str = KEY
    _next: int = 0

    @property
    def path(self) -> str:
        return f"/webhooks/payme/{self.account_id}"

    async def send(self, method: str, params: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """One call; every answer, error or not, is HTTP 200 JSON-RPC echoing our id."""
        self._next += 1
        body = {"jsonrpc": "2.0", "id": self._next, "method": method, "params": params}
        response = await self.http.post(self.path, json=body, headers={"Authorization": basic_header(key or self.key)})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == JSON_UTF8
        answer: dict[str, Any] = response.json()
        assert answer["jsonrpc"] == "2.0" and answer["id"] == self._next, answer
        return answer

    async def result(self, method: str, params: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        answer = await self.send(method, params, key=key)
        assert "error" not in answer and isinstance(answer["result"], dict), answer
        result: dict[str, Any] = answer["result"]
        return result

    async def error(self, method: str, params: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        answer = await self.send(method, params, key=key)
        return error_of(answer)


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The error member, checked for the shape Payme requires (result null, messages in ru, uz and en)."""
    assert answer.get("result") is None and isinstance(answer.get("error"), dict), answer
    error: dict[str, Any] = answer["error"]
    assert isinstance(error["code"], int) and "data" in error, error
    assert set(error["message"]) == {"ru", "uz", "en"} and all(error["message"].values()), error
    return error
