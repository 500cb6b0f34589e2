"""Runs one command message through its handler and settles it: ack, delayed retry, or parking."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.broker.publisher import ConfirmedPublisher
from shared.broker.topology import PARKING_QUEUE, WorkQueue
from shared.domain.errors import DomainError, NotFound

log = logging.getLogger(__name__)

ROUTING_KEY_HEADER = "x-billing-routing-key"
ATTEMPT_HEADER = "x-billing-attempt"
REASON_HEADER = "x-billing-reason"
ORIGIN_HEADER = "x-billing-origin-queue"

Handler = Callable[[Any], Awaitable[None]]


class InvalidMessage(Exception):
    """The message can never be processed (bad JSON, bad schema, unknown routing key): park it at once."""


@dataclass(frozen=True, slots=True)
class Delivery:
    body: bytes
    routing_key: str
    headers: Mapping[str, Any]
    message_id: str | None

    @property
    def route(self) -> str:
        return str(self.headers.get(ROUTING_KEY_HEADER) or self.routing_key)

    @property
    def attempt(self) -> int:
        try:
            return int(self.headers.get(ATTEMPT_HEADER, 1))
        except (TypeError, ValueError):
            return 1


class Outcome:
    DONE = "done"
    REJECTED = "rejected"
    RETRY = "retry"
    PARKED = "parked"


class CommandConsumer:
    def __init__(
        self,
        publisher: ConfirmedPublisher,
        work: WorkQueue,
        routes: Mapping[str, tuple[type[Any], Handler]],
        max_attempts: int,
    ) -> None:
        self._publisher = publisher
        self._work = work
        self._routes = routes
        self._max_attempts = max_attempts

    async def process(self, delivery: Delivery) -> str:
        """Handle a delivery; the caller acks after this returns and requeues if it raises."""
        try:
            schema, handler = self._route(delivery)
            command = _parse(schema, delivery.body)
            await handler(command)
        except InvalidMessage as exc:
            await self._park(delivery, f"invalid message: {exc}")
            return Outcome.PARKED
        except NotFound as exc:
            # A command may overtake the one that creates its transaction (competing consumers): retry it.
            return await self._retry_or_park(delivery, exc)
        except DomainError as exc:
            log.info("command refused", extra={"route": delivery.route, "reason": str(exc), "code": exc.code})
            return Outcome.REJECTED
        except Exception as exc:
            return await self._retry_or_park(delivery, exc)
        return Outcome.DONE

    async def _retry_or_park(self, delivery: Delivery, exc: Exception) -> str:
        if delivery.attempt >= self._max_attempts:
            await self._park(delivery, f"gave up after {delivery.attempt} attempts: {exc}")
            return Outcome.PARKED
        log.warning("command failed; retrying later", extra={"route": delivery.route, "error": repr(exc)})
        await self._retry(delivery)
        return Outcome.RETRY

    def _route(self, delivery: Delivery) -> tuple[type[Any], Handler]:
        route = self._routes.get(delivery.route)
        if route is None:
            raise InvalidMessage(f"no handler for routing key {delivery.route!r}")
        return route

    async def _retry(self, delivery: Delivery) -> None:
        headers = {
            **delivery.headers,
            ROUTING_KEY_HEADER: delivery.route,
            ATTEMPT_HEADER: delivery.attempt + 1,
        }
        await self._publisher.publish(
            "", self._work.delay_queue, delivery.body, message_id=delivery.message_id, headers=headers
        )

    async def _park(self, delivery: Delivery, reason: str) -> None:
        log.error("message parked", extra={"route": delivery.route, "reason": reason})
        headers = {
            **delivery.headers,
            ROUTING_KEY_HEADER: delivery.route,
            REASON_HEADER: reason[:1000],
            ORIGIN_HEADER: self._work.name,
        }
        await self._publisher.publish("", PARKING_QUEUE, delivery.body, message_id=delivery.message_id, headers=headers)


def _parse(schema: type[Any], body: bytes) -> Any:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"body is not JSON: {exc}") from None
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidMessage(f"{where}: {first['msg']}") from None
