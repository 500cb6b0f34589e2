"""The operator console: server-rendered pages under /console for the people who run payments every day."""

from __future__ import annotations

import importlib
import pkgutil
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingress.console import pages
from services.ingress.console.session import NotAllowed, NotFoundHere, SignInNeeded
from services.ingress.console.web import STATIC, render

PREFIX = "/console"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def router() -> APIRouter:
    """Every page module's `router`, under /console."""
    combined = APIRouter(include_in_schema=False)
    for info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        found = getattr(module, "router", None)
        if isinstance(found, APIRouter):
            combined.include_router(found, prefix=PREFIX)
    return combined


class ConsoleHeaders:
    """The console's security headers on every answer under /console (pages, redirects, files, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(router())

    @app.exception_handler(SignInNeeded)
    async def on_sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            return render(request, "error.html", status=401, reason="session")
        return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def on_not_allowed(request: Request, exc: NotAllowed) -> Response:
        return render(request, "error.html", status=403, reason=exc.reason)

    @app.exception_handler(NotFoundHere)
    async def on_not_found(request: Request, exc: NotFoundHere) -> Response:
        return render(request, "error.html", status=404, reason="not_found")

    app.add_middleware(ConsoleHeaders)
