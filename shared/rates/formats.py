"""The rate lists an operator imports: the Central Bank of Uzbekistan's daily JSON (`cbu`) and a plain form."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared.domain.exchange import InvalidRate, Rate

CBU_QUOTE = "UZS"
FORMATS = ("cbu", "json")


def parse(body: bytes | str, form: str) -> list[Rate]:
    """The rates in a file of the given format; InvalidRate names the first entry that is wrong."""
    if form not in FORMATS:
        raise InvalidRate(f"unknown format {form!r}; use one of {', '.join(FORMATS)}")
    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidRate(f"the file is not JSON: {exc}") from None
    return parse_cbu(document) if form == "cbu" else parse_plain(document)


def parse_cbu(document: Any) -> list[Rate]:
    """CBU's list: `[{"Ccy": "USD", "Rate": "12650.12", "Nominal": "1", "Date": "15.01.2025", ...}, ...]`;
    `Rate` is UZS for `Nominal` units."""
    if not isinstance(document, list) or not document:
        raise InvalidRate("a cbu file is a non-empty JSON array of rates")
    rates: list[Rate] = []
    for index, entry in enumerate(document):
        if not isinstance(entry, dict):
            raise InvalidRate(f"entry {index} is not an object")
        where = f"entry {index} ({entry.get('Ccy')!r})"
        try:
            day = datetime.strptime(str(entry.get("Date")), "%d.%m.%Y").date()
        except ValueError:
            raise InvalidRate(f"{where}: Date must be DD.MM.YYYY, got {entry.get('Date')!r}") from None
        try:
            rates.append(Rate.of(day, entry.get("Ccy"), CBU_QUOTE, entry.get("Rate"), _nominal(entry.get("Nominal"))))
        except InvalidRate as exc:
            raise InvalidRate(f"{where}: {exc}") from None
    return rates


def parse_plain(document: Any) -> list[Rate]:
    """`{"date": "YYYY-MM-DD", "quote": "UZS", "rates": {"USD": "12650.12", ...}}`: quote units for one unit."""
    if not isinstance(document, dict):
        raise InvalidRate('a json file is an object {"date", "quote", "rates"}')
    day = parse_day(document.get("date"), "date")
    quote = document.get("quote", CBU_QUOTE)
    table = document.get("rates")
    if not isinstance(table, dict) or not table:
        raise InvalidRate("rates must be a non-empty object of currency codes to decimal strings")
    rates: list[Rate] = []
    for code, rate in table.items():
        try:
            rates.append(Rate.of(day, code, quote, rate))
        except InvalidRate as exc:
            raise InvalidRate(f"rates.{code}: {exc}") from None
    return rates


def parse_day(text: object, what: str) -> date:
    if not isinstance(text, str):
        raise InvalidRate(f"{what} must be a date YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRate(f"{what} must be a date YYYY-MM-DD, got {text!r}") from None


def _nominal(value: object) -> object:
    """CBU writes `Nominal` as a digit string; anything else is left for Rate.of to refuse."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 1 if value is None else value
