"""Exchange rates and the conversion of an amount into a reporting currency: exact, never a float."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from shared.domain.errors import DomainError, UnknownCurrency
from shared.domain.money import Currency

MAX_RATE_AGE = timedelta(days=7)
"""A rate older than this (before the day of the change) is not used: the conversion is null instead."""
SHOWN_DIGITS = Context(prec=28)
"""Significant digits of a rate that is not exactly a decimal (an inverse or a cross rate) when shown."""


class InvalidRate(DomainError):
    code = "invalid_rate"


@dataclass(frozen=True, slots=True)
class Rate:
    """As published for `day`: `rate` units of `quote` buy `nominal` units of `currency` (CBU's `Nominal`)."""

    day: date
    currency: str
    quote: str
    rate: Decimal
    nominal: int = 1

    @classmethod
    def of(cls, day: date, currency: object, quote: object, rate: object, nominal: object = 1) -> Rate:
        """A checked rate: ISO 4217 codes, a positive decimal (never a float), a positive whole nominal."""
        try:
            source, target = Currency.of(currency).code, Currency.of(quote).code
        except UnknownCurrency as exc:
            raise InvalidRate(str(exc)) from None
        if source == target:
            raise InvalidRate(f"{source} cannot be quoted in itself")
        value = parse_decimal(rate, f"the rate of {source}")
        if value <= 0:
            raise InvalidRate(f"the rate of {source} must be positive, got {rate}")
        if isinstance(nominal, bool) or not isinstance(nominal, int) or nominal <= 0:
            raise InvalidRate(f"the nominal of {source} must be a positive integer, got {nominal!r}")
        return cls(day, source, target, value, nominal)

    @property
    def per_unit(self) -> Fraction:
        """Quote units for one unit of the currency, exactly (the nominal divided out)."""
        return Fraction(self.rate) / self.nominal


@dataclass(frozen=True, slots=True)
class Conversion:
    """An amount as the reporting currency books it, with the rate and the rate's date it used."""

    currency: str
    amount: int
    rate: Fraction
    rate_date: date

    def view(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "amount": self.amount,
            "rate": show_rate(self.rate),
            "rate_date": self.rate_date.isoformat(),
        }


def parse_decimal(text: object, what: str) -> Decimal:
    """A finite decimal from a string (or a Decimal/int); a float is refused, as its digits are not the rate's."""
    if isinstance(text, bool | float) or not isinstance(text, str | Decimal | int):
        raise InvalidRate(f"{what} must be a decimal string, got {text!r}")
    try:
        value = Decimal(text.strip().replace(",", ".")) if isinstance(text, str) else Decimal(text)
    except InvalidOperation:
        raise InvalidRate(f"{what} must be a decimal string, got {text!r}") from None
    if not value.is_finite():
        raise InvalidRate(f"{what} must be a finite decimal, got {text!r}")
    return value


@functools.lru_cache(maxsize=1024)
def show_rate(rate: Fraction) -> str:
    """A rate as a plain decimal string without trailing zeros: exact when it is a finite decimal.

    Remembered: a day's few rates are shown with every change converted at them."""
    value = _exact_decimal(rate)
    if value is None:
        value = SHOWN_DIGITS.divide(Decimal(rate.numerator), Decimal(rate.denominator))
    text = format(value.normalize(), "f")
    return text


def _exact_decimal(rate: Fraction) -> Decimal | None:
    denominator = rate.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator != 1:
        return None
    places = max(twos, fives)
    return Decimal(rate.numerator * 10**places // rate.denominator).scaleb(-places)


def latest_rates(rates: Iterable[Rate], on: date, quote: str) -> dict[str, tuple[date, Fraction]]:
    """Per currency quoted in `quote`, the rate of the latest date on or before `on`, within MAX_RATE_AGE."""
    found: dict[str, tuple[date, Fraction]] = {}
    for rate in rates:
        if rate.quote != quote or not on - MAX_RATE_AGE <= rate.day <= on:
            continue
        known = found.get(rate.currency)
        if known is None or rate.day > known[0]:
            found[rate.currency] = (rate.day, rate.per_unit)
    return found


def pair_rate(rates: Iterable[Rate], source: str, target: str, on: date) -> tuple[Fraction, date] | None:
    """Target units for one source unit on the day `on`, from the latest date that has the pair (direct, inverse
    or through a common quote currency), within MAX_RATE_AGE; None when no such date exists."""
    if source == target:
        return Fraction(1), on
    tables: dict[date, dict[tuple[str, str], Fraction]] = {}
    for rate in rates:
        if on - MAX_RATE_AGE <= rate.day <= on:
            tables.setdefault(rate.day, {})[(rate.currency, rate.quote)] = rate.per_unit
    for day in sorted(tables, reverse=True):
        found = _pair_on(tables[day], source, target)
        if found is not None:
            return found, day
    return None


def _pair_on(table: dict[tuple[str, str], Fraction], source: str, target: str) -> Fraction | None:
    if (source, target) in table:
        return table[(source, target)]
    if (target, source) in table:
        return 1 / table[(target, source)]
    quotes = sorted({quote for currency, quote in table if currency == source})
    for quote in quotes:
        if (target, quote) in table:
            return table[(source, quote)] / table[(target, quote)]
    return None


@dataclass(frozen=True, slots=True)
class Converter:
    """One currency into a reporting currency at the rate of one day, found once for every amount it converts."""

    target: Currency
    rate: Fraction
    rate_date: date
    minor_units: Fraction
    """Target minor units per source minor unit: the rate scaled by the two currencies' exponents."""

    @classmethod
    def between(cls, source: Currency, target: Currency, on: date, rates: Iterable[Rate]) -> Converter | None:
        """None when no rate of the last MAX_RATE_AGE exists (see `pair_rate`)."""
        found = pair_rate(rates, source.code, target.code, on)
        if found is None:
            return None
        rate, day = found
        return cls(target, rate, day, rate * Fraction(10) ** (target.exponent - source.exponent))

    def conversion(self, minor: int) -> Conversion:
        """`minor` source units in the target's minor units, rounded half to even at the target's exponent."""
        return Conversion(self.target.code, round(minor * self.minor_units), self.rate, self.rate_date)

    def view(self, minor: int) -> dict[str, Any]:
        """`minor` as the API and the events show its conversion."""
        return self.conversion(minor).view()


def convert(minor: int, source: Currency, target: Currency, on: date, rates: Iterable[Rate]) -> Conversion | None:
    """`minor` units of `source` in `target`'s minor units at the rate of `on` (see `pair_rate`), rounded half
    to even at the target's exponent; None when no rate of the last MAX_RATE_AGE exists."""
    converter = Converter.between(source, target, on, rates)
    return None if converter is None else converter.conversion(minor)
