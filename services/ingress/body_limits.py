"""How many body bytes each route accepts, counted as they stream in: neither a lie nor chunking gets past.

A declared Content-Length over the limit is answered 413 before a byte is read; a chunked or understated body
is cut at the first chunk past the limit (the route's read raises). Either way the answer is 413
problem+json and nothing of the request is acted on. Starlette's own limiter answers a declared oversize
body in plain text, whatever the route would have said, hence this small middleware.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingress.problems import problem_response
from shared.i18n import negotiate

API_MAX_BODY = 1024 * 1024
"""The command API's JSON bodies."""
WEBHOOK_MAX_BODY = 256 * 1024
"""Gateway callbacks: unauthenticated until their signature is checked, a few KiB at most in practice."""
SETTLEMENT_FILE_MAX_BODY = 50 * 1024 * 1024
"""A reconciliation upload: the settlement file and its multipart envelope."""


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes its limit; rendered as 413 problem+json."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than this route accepts ({limit} bytes)")
        self.limit = limit


def limit_of(scope: Scope) -> int:
    """The limit of the route this request is for."""
    path: str = scope["path"]
    if path.startswith("/webhooks/"):
        return WEBHOOK_MAX_BODY
    upload = Headers(scope=scope).get("content-type", "").startswith("multipart/form-data")
    if upload and path.rstrip("/") in ("/v1/reconciliations", "/console/reconciliations"):
        return SETTLEMENT_FILE_MAX_BODY
    return API_MAX_BODY


class BodyLimit:
    """ASGI middleware enforcing `limit_of` on every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_of(scope)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        error = BodyTooLarge(limit)
        language = negotiate(Headers(scope=scope).get("accept-language"))
        response = problem_response(
            413, "body_too_large", str(error.detail), scope["path"], language=language, limit=limit
        )
        await response(scope, receive, send)
