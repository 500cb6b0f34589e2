"""Money: integers of minor units with ISO 4217 exponents."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.errors import InvalidAmount, UnknownCurrency
from shared.domain.money import ISO_4217_EXPONENTS, Currency, Money


@pytest.mark.parametrize(
    ("code", "exponent"), [("UZS", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)]
)
def test_exponents_follow_iso_4217(code: str, exponent: int) -> None:
    assert Currency.of(code).exponent == exponent


def test_the_table_is_the_whole_active_list() -> None:
    assert len(ISO_4217_EXPONENTS) >= 175
    assert all(len(code) == 3 and code.isupper() for code in ISO_4217_EXPONENTS)


@pytest.mark.parametrize("code", ["usd", "XYZ", "", "US", None, 840])
def test_unknown_currencies_are_refused(code: object) -> None:
    with pytest.raises(UnknownCurrency):
        Currency.of(code)


@pytest.mark.parametrize("minor", [1.5, "100", True, None, -1])
def test_amounts_are_non_negative_integers(minor: object) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(minor, "USD")


def test_positive_refuses_zero() -> None:
    with pytest.raises(InvalidAmount):
        Money.positive(0, "USD")


@pytest.mark.parametrize(
    ("minor", "code", "text"),
    [(1_500_000, "UZS", "15000.00"), (7, "JPY", "7"), (1_234, "KWD", "1.234"), (5, "USD", "0.05")],
)
def test_major_units_keep_the_currency_decimals(minor: int, code: str, text: str) -> None:
    assert Money.of(minor, code).major_str() == text
    assert Money.from_major(text, code).minor == minor


def test_from_major_refuses_extra_decimals() -> None:
    with pytest.raises(InvalidAmount):
        Money.from_major(Decimal("1.001"), "USD")
