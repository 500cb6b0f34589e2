"""Who is signed in: the session cookie, the CSRF token of state-changing forms, and permissions, on every request."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from services.ingress.context import Ingress, ingress
from shared.persistence.operators import Operator, Operators
from shared.security.apikeys import Permission

SESSION_COOKIE = "billing_console"
CSRF_FIELD = "csrf_token"


class SignInNeeded(Exception):
    """No live session: the page answers with a redirect to the sign-in form."""


class NotAllowed(Exception):
    """Signed in, but the operator lacks the permission, or a form came without its token: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFoundHere(Exception):
    """Absent, or another tenant's: the same 404 either way."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    operator: Operator
    csrf_token: str
    ctx: Ingress

    def require(self, permission: Permission) -> None:
        if not self.operator.may(permission.value):
            raise NotAllowed(permission.value)


async def signed_in(request: Request, ctx: Annotated[Ingress, Depends(ingress)]) -> SignedIn:
    token = request.cookies.get(SESSION_COOKIE)
    session = await Operators(ctx.engine).session(token) if token else None
    if session is None:
        raise SignInNeeded
    request.state.operator = session.operator
    return SignedIn(session.operator, session.csrf_token, ctx)


def allowed(permission: Permission) -> Callable[..., Awaitable[SignedIn]]:
    """A dependency: the signed-in operator, refused with 403 unless they hold `permission`."""

    async def check(who: Annotated[SignedIn, Depends(signed_in)]) -> SignedIn:
        who.require(permission)
        return who

    return check


async def checked_form(request: Request, who: SignedIn) -> FormData:
    """The posted form, refused with 403 (before anything changes) unless it carries this session's token."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), who.csrf_token.encode()):
        raise NotAllowed("csrf")
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


Viewer = Annotated[SignedIn, Depends(allowed(Permission.VIEW))]
