"""Octo's HTTP API: one POST with bounded retries, only for timeouts, 5xx and 429 (architecture.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from shared.gateways.base import ProviderRejected, ProviderUnavailable, answer_code
from shared.gateways.octo.payloads import MalformedAnswer, decode, encode

ATTEMPTS = 4
BACKOFF = wait_random_exponential(multiplier=0.25, max=2.0)
"""Exponential backoff with full jitter: about 0.25 s, 0.5 s, 1 s between the four attempts."""
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class _Transient(Exception):
    """An answer worth repeating at once: a timeout, a 5xx or a 429."""


class OctoClient:
    def __init__(
        self, http: httpx.AsyncClient, api_base: str, attempts: int = ATTEMPTS, backoff: wait_base = BACKOFF
    ) -> None:
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._attempts = attempts
        self._backoff = backoff

    async def post(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Octo's JSON answer; ProviderUnavailable when it never came, ProviderRejected on a 4xx."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._backoff,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post_once(path, body)
        except _Transient as exc:
            raise ProviderUnavailable(f"Octo {path}: {exc} after {self._attempts} attempts") from exc
        raise AssertionError("tenacity ends with a result or an exception")  # pragma: no cover

    async def _post_once(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            response = await self._http.post(
                self._api_base + path,
                content=encode(body),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=TIMEOUT,
            )
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            # Not in the retry list: the message-level retry (or the janitor) asks again later.
            raise ProviderUnavailable(f"Octo {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ProviderRejected(
                f"Octo {path}: HTTP {response.status_code}: {response.text[:300]}",
                note=refusal_note(path, response),
            )
        try:
            answer = decode(response.content)
        except ValueError as exc:
            raise ProviderUnavailable(f"Octo {path}: the answer is not JSON") from exc
        if not isinstance(answer, Mapping):
            raise ProviderUnavailable(f"Octo {path}: the answer is not a JSON object")
        return answer


def refusal_note(path: str, response: httpx.Response) -> str:
    """What a tenant sees of a 4xx: the status and Octo's error code, never the body's text."""
    note = f"octo refused {path}: HTTP {response.status_code}"
    try:
        answer = decode(response.content)
    except ValueError:
        return note
    code = answer_code(answer.get("error")) if isinstance(answer, Mapping) else None
    return f"{note}, error {code}" if code is not None else note


def unreadable(path: str, exc: MalformedAnswer) -> ProviderUnavailable:
    return ProviderUnavailable(f"Octo {path}: {exc}")
