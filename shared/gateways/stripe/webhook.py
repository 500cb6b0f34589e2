"""Stripe's webhook: verify the signature over the raw body, then hand the event to the processor."""

from __future__ import annotations

import json
import logging

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shared.gateways.stripe.adapter import WEBHOOK_TOLERANCE_S
from shared.gateways.stripe.facts import InvalidStripeObject, StripeEvent
from shared.gateways.stripe.messages import StripeEventMessage, event_command_id
from shared.gateways.webhooks import Host, signed_call, unauthenticated
from shared.problem import Problem

router = APIRouter(prefix="/webhooks", tags=["gateway webhooks"])
log = logging.getLogger(__name__)
SIGNATURE_HEADER = "Stripe-Signature"


@router.post("/stripe/{account_id}")
async def stripe_event(account_id: str, request: Request, host: Host) -> JSONResponse:
    raw, account = await signed_call(host, request, "stripe", account_id)
    try:
        # The library's own verifier: HMAC-SHA256 of "<t>.<raw body>", any v1 signature, and the age limit.
        stripe.WebhookSignature.verify_header(
            raw, request.headers.get(SIGNATURE_HEADER), str(account.config["webhook_secret"]), WEBHOOK_TOLERANCE_S
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise unauthenticated() from None  # the same answer as for an unknown account
    try:
        payload = json.loads(raw)
        event = StripeEvent.parse(payload)
    except json.JSONDecodeError:
        raise Problem(400, "malformed_json", "the body is not valid JSON") from None
    except InvalidStripeObject as exc:
        raise Problem(400, "malformed_event", str(exc)) from None
    command_id = event_command_id(account.id, event.id)
    message = StripeEventMessage(
        command_id=command_id,
        tenant_id=account.tenant_id,
        actor=f"gateway:stripe:{account.id}",
        account_id=account.id,
        event=payload,
    )
    await host.send(message, command_id)  # 503 unless the broker confirmed it
    log.info("stripe event accepted", extra={"event_id": event.id, "type": event.type})
    return JSONResponse({"received": True, "id": event.id}, status_code=200)
