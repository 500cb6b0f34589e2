"""Rendering: one Jinja2 environment per language (autoescaped, gettext from the catalogs), and the language choice."""

from __future__ import annotations

import json
from functools import cache, partial
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.ingress.console import formatting, labels
from shared.i18n import LANGUAGES, negotiate, translations

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
LANGUAGE_COOKIE = "billing_lang"
YEAR_S = 365 * 24 * 3600


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = partial(formatting.money, language=language)
    env.filters["moment"] = partial(formatting.moment, language=language)
    env.filters["number"] = partial(formatting.number, language=language)
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    env.filters["compact"] = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)
    env.globals["labels"] = labels
    env.globals["switch_language"] = switch_language
    env.globals["LANGUAGES"] = {"en": "English", "ru": "Русский", "uz": "O\u2018zbekcha"}
    return env


def switch_language(request: Request, language: str) -> str:
    """This page's URL (its query kept) in another language."""
    return str(request.url.include_query_params(lang=language).replace(scheme="", netloc=""))


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def language_of(request: Request) -> tuple[str, bool]:
    """The language to show and whether the request chose it now (`?lang=`), to remember it in a cookie."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in LANGUAGES:
        return remembered, False
    return negotiate(request.headers.get("accept-language")), False


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    language, chosen = language_of(request)
    context.setdefault("who", None)
    context.setdefault("notice", None)
    html = environment(language).get_template(template).render(request=request, lang=language, **context)
    response = HTMLResponse(html, status_code=status, headers={"Content-Language": language})
    if chosen:
        response.set_cookie(
            LANGUAGE_COOKIE, language, max_age=YEAR_S, httponly=True, samesite="lax", secure=is_https(request)
        )
    return response


def translate(request: Request, message: str) -> str:
    """A message in the request's language, for words built in Python (flash notes, errors)."""
    return translations(language_of(request)[0]).gettext(message)
