"""Runs one command message through its handler and settles it: ack, delayed retry, or parking."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared import metrics, tracing
from shared.broker.publisher import ConfirmedPublisher
from shared.broker.topology import PARKING_QUEUE, WorkQueue
from shared.domain.errors import DomainError, NotFound
from shared.logs import LogContext
from shared.messages import REQUEST_ID_HEADER, CommandMessage
from shared.persistence.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

ROUTING_KEY_HEADER = "x-billing-routing-key"
ATTEMPT_HEADER = "x-billing-attempt"
REASON_HEADER = "x-billing-reason"
ORIGIN_HEADER = "x-billing-origin-queue"

Handler = Callable[[Any], Awaitable[None]]


def dispatch_table(*entries: tuple[type[CommandMessage], Handler]) -> dict[str, tuple[type[Any], Handler]]:
    """Routing key -> (message type, handler), each key the one its message type declares."""
    return {message.routing_key: (message, handler) for message, handler in entries}


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
    def request_id(self) -> str | None:
        """The X-Request-ID of the HTTP request that sent this command, when one did."""
        value = self.headers.get(REQUEST_ID_HEADER)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return None if value is None else str(value)[:100]

    @property
    def attempt(self) -> int:
        try:
            return int(self.headers.get(ATTEMPT_HEADER, 1))
        except (TypeError, ValueError):
            return 1


class DeliveryOutcome:
    DONE = "done"
    REJECTED = "rejected"
    RETRY = "retry"
    PARKED = "parked"
    ERROR = "error"
    """Not settled (the retry or parking publish failed): the worker requeues the message."""


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

    @property
    def routes(self) -> Mapping[str, tuple[type[Any], Handler]]:
        """Routing key -> (message schema, handler): what this consumer accepts."""
        return self._routes

    async def process(self, delivery: Delivery) -> str:
        """Handle a delivery; the caller acks after this returns and requeues if it raises."""
        route = delivery.route
        label = route if route in self._routes else "unknown"  # bounded label values, whatever arrives
        queue = self._work.name
        started = time.perf_counter()
        outcome = DeliveryOutcome.ERROR
        with (
            LogContext(
                message_id=delivery.message_id, queue=queue, routing_key=route, request_id=delivery.request_id
            ) as context,
            tracing.span(
                f"{queue} process",
                tracing.SpanKind.CONSUMER,
                parent=delivery.headers,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.destination.name": queue,
                    "messaging.rabbitmq.destination.routing_key": route,
                    "messaging.message.id": delivery.message_id or "",
                    "billing.request_id": delivery.request_id or "",
                },
            ) as span,
        ):
            try:
                outcome = await self._handle_and_settle(delivery, context)
                return outcome
            finally:
                elapsed = time.perf_counter() - started
                metrics.MESSAGES_CONSUMED.labels(queue, label, outcome).inc()
                metrics.HANDLER_LATENCY.labels(queue, label).observe(elapsed)
                tracing.set_attribute(span, "billing.outcome", outcome)
                # Refusals, retries and parking log their own lines; a line per message is DEBUG (it costs ~50 us).
                level = logging.WARNING if outcome == DeliveryOutcome.ERROR else logging.DEBUG
                if log.isEnabledFor(level):
                    log.log(
                        level, "message handled", extra={"outcome": outcome, "duration_ms": round(elapsed * 1e3, 2)}
                    )

    async def _handle_and_settle(self, delivery: Delivery, context: LogContext) -> str:
        try:
            schema, handler = self._route(delivery)
            command = _parse(schema, delivery.body)
            context.bind(**_ids(command))
            await handler(command)
        except InvalidMessage as exc:
            await self._park(delivery, f"invalid message: {exc}", "invalid")
            return DeliveryOutcome.PARKED
        except NotFound as exc:
            # A command may overtake the one that creates its transaction (competing consumers): retry it.
            return await self._retry_or_park(delivery, exc)
        except DatabaseUnavailable as exc:
            # Not the message's fault: it goes round the delay queue like any failure, and counts its attempts.
            return await self._retry_or_park(delivery, exc)
        except DomainError as exc:
            log.info("command refused", extra={"route": delivery.route, "reason": str(exc), "code": exc.code})
            return DeliveryOutcome.REJECTED
        except Exception as exc:
            return await self._retry_or_park(delivery, exc)
        return DeliveryOutcome.DONE

    async def _retry_or_park(self, delivery: Delivery, exc: Exception) -> str:
        if delivery.attempt >= self._max_attempts:
            await self._park(delivery, f"gave up after {delivery.attempt} attempts: {exc}", "exhausted")
            return DeliveryOutcome.PARKED
        log.warning("command failed; retrying later", extra={"route": delivery.route, "error": repr(exc)})
        await self._retry(delivery)
        metrics.RETRIES.labels(self._work.name, self._label(delivery)).inc()
        return DeliveryOutcome.RETRY

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

    def _label(self, delivery: Delivery) -> str:
        return delivery.route if delivery.route in self._routes else "unknown"

    async def _park(self, delivery: Delivery, reason: str, why: str) -> None:
        log.error("message parked", extra={"route": delivery.route, "reason": reason})
        headers = {
            **delivery.headers,
            ROUTING_KEY_HEADER: delivery.route,
            REASON_HEADER: reason[:1000],
            ORIGIN_HEADER: self._work.name,
        }
        await self._publisher.publish("", PARKING_QUEUE, delivery.body, message_id=delivery.message_id, headers=headers)
        metrics.PARKED.labels(self._work.name, self._label(delivery), why).inc()


def _ids(command: Any) -> dict[str, object]:
    """The ids a log line of this command should carry (upstream creates may leave the id to be derived)."""
    ids: dict[str, object] = {"tenant_id": getattr(command, "tenant_id", None)}
    for name in ("transaction_id", "refund_id"):
        resolve = getattr(command, f"resolved_{name}", None)
        ids[name] = resolve() if callable(resolve) else getattr(command, name, None)
    ids["command_id"] = getattr(command, "command_id", None)
    return ids


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
