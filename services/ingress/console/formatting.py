"""Amounts and times as a person reads them: the currency's exponent, the locale's separators, their time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from babel.numbers import format_decimal

from shared.domain.errors import DomainError
from shared.domain.money import Currency

BABEL_LOCALES = {"en": "en_GB", "ru": "ru_RU", "uz": "uz_Latn_UZ"}


def money(minor: int | None, code: str, language: str) -> str:
    """150050 UZS -> '1,500.50 UZS' (en), '1 500,50 UZS' (ru, uz): exactly the currency's decimals."""
    if minor is None:
        return ""
    try:
        exponent = Currency.of(code).exponent
    except DomainError:
        exponent = 2
    pattern = "#,##0" + ("." + "0" * exponent if exponent else "")
    value = Decimal(minor).scaleb(-exponent)
    return f"{format_decimal(value, format=pattern, locale=BABEL_LOCALES[language])} {code}"


def moment(value: str | datetime | None, zone: str, language: str) -> str:
    """An RFC 3339 time (or datetime) in the operator's time zone, in the language's medium form."""
    if value is None or value == "":
        return ""
    when = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return format_datetime(when.astimezone(tz), "yyyy-MM-dd HH:mm:ss", locale=BABEL_LOCALES[language])


def number(value: int, language: str) -> str:
    return format_decimal(value, locale=BABEL_LOCALES[language])
