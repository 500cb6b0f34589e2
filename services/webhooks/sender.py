"""One signed POST of a delivery (Standard Webhooks), cut at 10 s, reading at most 1 KiB of the answer."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from shared.domain.webhooks import ATTEMPT_TIMEOUT_S, EXCERPT_BYTES, Verdict, verdict
from shared.persistence.webhooks import Attempt, ClaimedDelivery

USER_AGENT = "billing-webhooks/1.0"


def signed_headers(claimed: ClaimedDelivery, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers; during a rotation one signature per active secret, space-separated."""
    msg_id = str(claimed.event_id)
    signatures = " ".join(Webhook(secret).sign(msg_id, now, claimed.body) for secret in claimed.secrets)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "user-agent": USER_AGENT,
        "accept-encoding": "identity",  # the excerpt is raw bytes: nothing to inflate
    }


class Sender:
    """POSTs through a client that refuses private addresses (unless allowed) and never follows redirects."""

    def __init__(self, client: httpx.AsyncClient, timeout_s: float = ATTEMPT_TIMEOUT_S) -> None:
        self._client = client
        self._timeout_s = timeout_s

    async def send(self, claimed: ClaimedDelivery) -> tuple[Attempt, Verdict]:
        now = datetime.now(UTC)
        headers = signed_headers(claimed, now)
        started = time.perf_counter()
        status: int | None = None
        excerpt = bytearray()
        error: str | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._client.stream(
                    "POST", claimed.url, content=claimed.body.encode(), headers=headers
                ) as response:
                    status = response.status_code
                    # Streamed, so an endless or huge answer costs at most EXCERPT_BYTES of memory and reading.
                    async for chunk in response.aiter_raw():
                        excerpt += chunk
                        if len(excerpt) >= EXCERPT_BYTES:
                            break
        except TimeoutError:
            if status is None:
                error = f"no answer within {self._timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        attempt = Attempt(
            at=now,
            status_code=status,
            duration_ms=elapsed_ms,
            error=error,
            response_excerpt=_text(bytes(excerpt[:EXCERPT_BYTES])) if status is not None else None,
        )
        return attempt, verdict(status)


def _text(raw: bytes) -> str:
    """Up to 1 KiB of the answer as text PostgreSQL can store (a split character and NULs are dropped)."""
    return raw.decode("utf-8", errors="ignore").replace("\x00", "")
