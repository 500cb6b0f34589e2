"""Signing in and out: a server-side session behind an HttpOnly, SameSite cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.ingress.console.session import SESSION_COOKIE, SignedIn, checked_form, field, signed_in
from services.ingress.console.web import is_https, render
from services.ingress.context import Ingress, ingress
from shared.persistence.operators import IDLE_EXPIRY, Operators

router = APIRouter()
Ctx = Annotated[Ingress, Depends(ingress)]


def _safe_next(target: str) -> str:
    """Only a console path of this site: never an open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or target.startswith("//"):
        return "/console"
    return target


def _same_origin(request: Request) -> bool:
    """A sign-in posted from another site (login CSRF) is refused; browsers send Origin on every POST."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


@router.get("/login")
async def sign_in_form(request: Request, next: str = "/console") -> Response:
    return render(request, "login.html", error=None, email="", next=_safe_next(next))


@router.post("/login")
async def sign_in(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    email, password, target = field(form, "email"), form.get("password"), _safe_next(field(form, "next") or "/")
    if not _same_origin(request):
        return render(request, "error.html", status=403, reason="csrf")
    outcome = await Operators(ctx.engine).sign_in(email, password if isinstance(password, str) else "")
    if outcome.token is None:
        error = "locked" if outcome.locked else "bad"
        return render(request, "login.html", status=200, error=error, email=email, next=target)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        max_age=int(IDLE_EXPIRY.total_seconds()) * 48,  # the server ends it after 30 idle minutes
        path="/console",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    return response


@router.post("/logout")
async def sign_out(request: Request, who: Annotated[SignedIn, Depends(signed_in)]) -> Response:
    await checked_form(request, who)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await Operators(who.ctx.engine).sign_out(token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="lax", secure=is_https(request))
    return response
