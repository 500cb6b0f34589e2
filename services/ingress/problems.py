"""Errors as application/problem+json (RFC 9457) with a stable `type` and `code`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.i18n import DEFAULT, negotiate
from shared.i18n import problems as words
from shared.persistence.errors import DatabaseUnavailable
from shared.problem import Problem

__all__ = ["PROBLEM_JSON", "Problem", "install", "problem_response"]
log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def language_of(request: Request) -> str:
    """The language of a request's problem+json answers: its Accept-Language (q-values honoured), else en."""
    return negotiate(request.headers.get("accept-language"))


def problem_response(
    status: int,
    code: str,
    detail: str,
    instance: str | None = None,
    *,
    language: str = DEFAULT,
    **extra: Any,
) -> JSONResponse:
    """A problem+json answer; `title` and `detail` in `language`, `type`, `code` and `status` never translated."""
    body = {
        "type": f"https://billing.dev/problems/{code}",
        "title": words.title(status, language),
        "status": status,
        "code": code,
        "detail": words.detail(status, code, detail, language),
        **({"instance": instance} if instance else {}),
        **extra,
    }
    headers = {"Content-Language": language}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> JSONResponse:
        instance = request.url.path if exc.show_instance else None
        return problem_response(exc.status, exc.code, exc.detail, instance, language=language_of(request), **exc.extra)

    @app.exception_handler(DatabaseUnavailable)
    async def on_database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning("database unavailable", extra={"path": request.url.path, "error": str(exc)[:300]})
        return problem_response(
            503,
            "database_unavailable",
            "the database is unavailable; retry later",
            request.url.path,
            language=language_of(request),
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            return problem_response(
                400, "malformed_json", "the body is not valid JSON", request.url.path, language=language_of(request)
            )
        first = errors[0] if errors else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "request"
        invalid = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg")}
            for e in errors
        ]
        return problem_response(
            422,
            "invalid_request",
            f"{where}: {first.get('msg', 'invalid')}",
            request.url.path,
            language=language_of(request),
            errors=invalid,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:  # services/ingress/body_limits.py's BodyTooLarge
            limit = getattr(exc, "limit", None)
            return problem_response(
                413, "body_too_large", str(exc.detail), request.url.path, language=language_of(request), limit=limit
            )
        if exc.status_code == 400:  # FastAPI could not decode the body at all (not UTF-8, not JSON)
            return problem_response(
                400, "malformed_json", "the body is not valid JSON", request.url.path, language=language_of(request)
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem_response(exc.status_code, code, str(exc.detail), request.url.path, language=language_of(request))
