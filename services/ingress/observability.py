"""Per-request metrics, log context, access log and answer headers (X-Request-ID, RateLimit-*) for the ingress,
as one plain ASGI middleware."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from opentelemetry.trace import get_current_span as trace_span
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingress.problems import problem_response
from shared import metrics, tracing
from shared.logs import LogContext
from shared.messages import REQUEST_ID_HEADER

log = logging.getLogger("billing.access")

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
QUIET = ("/health/",)
"""Probes: counted, never logged. Other requests: DEBUG when answered < 400, else INFO/WARNING."""
PATH_IDS = ("transaction_id", "account_id", "refund_id", "reconciliation_id")


class RequestObservability:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering
        request_id = _request_id(scope) or uuid.uuid4().hex

        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started_answer = False

        async def send_with_status(message: Message) -> None:
            nonlocal status, started_answer
            if message["type"] == "http.response.start":
                status = message["status"]
                started_answer = True
                extra = {REQUEST_ID_HEADER: request_id, **state.get("response_headers", {})}
                message["headers"] = [
                    *message.get("headers", ()),
                    *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()),
                ]
            await send(message)

        with LogContext(request_id=request_id) as context:
            tracing.set_attribute(trace_span(), "billing.request_id", request_id)
            try:
                await self.app(scope, receive, send_with_status)
            except Exception:
                if not started_answer:  # the client still gets problem+json with its request id, never a bare 500
                    await problem_response(500, "internal_error", "the service failed; retry later")(
                        scope, receive, send_with_status
                    )
                raise
            finally:
                route = _route_template(scope)
                elapsed = time.perf_counter() - started
                metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
                metrics.HTTP_LATENCY.labels(method, route).observe(elapsed)
                level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
                if log.isEnabledFor(level) and not path.startswith(QUIET):
                    context.bind(**_path_ids(scope))
                    log.log(
                        level,
                        "request",
                        extra={
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                        },
                    )


def _route_template(scope: Scope) -> str:
    """The matched route's template (bounded label values); the router records it in the scope."""
    route: Any = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else "unmatched"


def _path_ids(scope: Scope) -> dict[str, object]:
    params: dict[str, Any] = scope.get("path_params") or {}
    ids = {name: params.get(name) for name in PATH_IDS}
    if "id" in params:
        # /v1/transactions/{id}/... and /v1/gateway-accounts/{id} name their object `id`.
        key = "account_id" if "/gateway-accounts/" in scope["path"] else "transaction_id"
        ids[key] = params["id"]
    return ids


def _request_id(scope: Scope) -> str | None:
    """The caller's X-Request-ID when it is a printable ASCII token of at most 100 characters."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if 0 < len(text) <= 100 and text.isascii() and text.isprintable() else None
    return None
