"""The command the ingress publishes for each verified Stripe event (routing key `gateway.stripe.event`)."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from shared.messages import CommandMessage


class StripeEventMessage(CommandMessage):
    routing_key: ClassVar[str] = "gateway.stripe.event"

    account_id: uuid.UUID
    event: dict[str, Any]
    """The event exactly as Stripe signed it (verified by the ingress before publishing)."""


def event_command_id(account_id: uuid.UUID, event_id: str) -> str:
    return f"stripe:{account_id}:{event_id}"
