"""Stripe's side of the webhook: events built like Stripe's, signed with the account's secret, posted to us."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import stripe

API_VERSION = "2026-10-28.endive"


class StripeWebhooks:
    def __init__(self, client: httpx.AsyncClient, account_id: uuid.UUID, secret: str) -> None:
        self._client = client
        self.account_id = account_id
        self.secret = secret

    @staticmethod
    def event(kind: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        return {
            "id": f"evt_test_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": API_VERSION,
            "created": created if created is not None else int(time.time()),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }

    async def post(
        self,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        signed_at: int | None = None,
        signature: str | None = None,
        body: str | None = None,
        signed_body: str | None = None,
    ) -> httpx.Response:
        """Post `event` signed as Stripe would.

        `body` replaces what is sent, `signed_body` what the signature covers (a tampered body keeps the old
        signature), `signature` the whole header (an empty one sends none).
        """
        payload = body if body is not None else json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(
            signed_body if signed_body is not None else payload, secret or self.secret, signed_at
        )
        if signature is not None:
            header = signature
        headers = {"Content-Type": "application/json"}
        if header:
            headers["Stripe-Signature"] = header
        return await self._client.post(f"/webhooks/stripe/{self.account_id}", content=payload, headers=headers)

    async def send(self, kind: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        """Deliver one event and insist it was accepted; returns the event."""
        event = self.event(kind, obj, created=created)
        response = await self.post(event)
        assert response.status_code == 200, response.text
        return event
