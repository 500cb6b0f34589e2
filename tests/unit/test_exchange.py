"""Conversions into a reporting currency: exact, half to even at the target's exponent, never a float."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from shared.domain.exchange import Converter, InvalidRate, Rate, convert, latest_rates, pair_rate, show_rate
from shared.domain.money import Currency
from shared.rates.formats import parse

DAY = date(2025, 1, 15)
UZS, USD, JPY, KWD, EUR = (Currency.of(c) for c in ("UZS", "USD", "JPY", "KWD", "EUR"))
BOOK = [
    Rate.of(DAY, "USD", "UZS", "12650.12"),
    Rate.of(DAY, "EUR", "UZS", "13500"),
    Rate.of(DAY, "JPY", "UZS", "85.37"),
    Rate.of(DAY, "KWD", "UZS", "41234.56"),
]


def test_into_uzs_from_a_two_decimal_currency() -> None:
    done = convert(10_000, USD, UZS, DAY, BOOK)  # 100.00 USD
    assert done is not None
    assert done.view() == {"currency": "UZS", "amount": 126_501_200, "rate": "12650.12", "rate_date": "2025-01-15"}


def test_from_a_zero_decimal_currency() -> None:
    done = convert(1_000, JPY, UZS, DAY, BOOK)  # 1000 JPY = 85 370.00 UZS
    assert done is not None and done.amount == 8_537_000


def test_from_a_three_decimal_currency_rounds_at_the_target_exponent() -> None:
    done = convert(1_234, KWD, UZS, DAY, BOOK)  # 1.234 KWD x 41234.56 = 50 883.447 04 UZS
    assert done is not None and done.amount == 5_088_345


def test_into_a_three_decimal_currency_through_the_inverse_rate() -> None:
    done = convert(100_000_000, UZS, KWD, DAY, BOOK)  # 1 000 000 UZS / 41234.56 = 24.2516... KWD
    assert done is not None
    assert done.amount == 24_252
    assert Decimal(done.view()["rate"]) == Decimal(1) / Decimal("41234.56")


def test_a_cross_rate_goes_through_the_quote_currency() -> None:
    done = convert(1_999, USD, JPY, DAY, BOOK)  # 19.99 USD x (12650.12 / 85.37) JPY = 2962.17... JPY
    assert done is not None
    assert done.currency == "JPY"
    assert done.amount == round(Fraction(1999, 100) * Fraction("12650.12") / Fraction("85.37"))
    assert done.amount == 2_962
    assert done.view()["rate"] == str(Decimal("12650.12") / Decimal("85.37"))


def test_a_cross_rate_between_two_decimal_currencies() -> None:
    done = convert(10_000, EUR, USD, DAY, BOOK)  # 100.00 EUR x 13500 / 12650.12 = 106.7184... USD
    assert done is not None and done.amount == 10_672


@pytest.mark.parametrize(("rate", "expected"), [("12650.5", 12_650), ("12651.5", 12_652), ("12650.51", 12_651)])
def test_a_half_rounds_to_even(rate: str, expected: int) -> None:
    done = convert(1, USD, UZS, DAY, [Rate.of(DAY, "USD", "UZS", rate)])  # 0.01 USD = 126.505 UZS...
    assert done is not None and done.amount == expected


def test_the_same_currency_converts_at_one() -> None:
    done = convert(777, UZS, UZS, DAY, [])
    assert done is not None
    assert done.view() == {"currency": "UZS", "amount": 777, "rate": "1", "rate_date": "2025-01-15"}


def test_the_latest_date_on_or_before_the_day_is_used() -> None:
    book = [
        Rate.of(DAY - timedelta(days=3), "USD", "UZS", "12600"),
        Rate.of(DAY - timedelta(days=1), "USD", "UZS", "12640"),
        Rate.of(DAY + timedelta(days=1), "USD", "UZS", "99999"),
    ]
    done = convert(100, USD, UZS, DAY, book)
    assert done is not None
    assert (done.amount, done.rate_date) == (1_264_000, DAY - timedelta(days=1))


def test_a_rate_older_than_seven_days_is_not_used() -> None:
    week_old = [Rate.of(DAY - timedelta(days=7), "USD", "UZS", "12600")]
    stale = [Rate.of(DAY - timedelta(days=8), "USD", "UZS", "12600")]
    assert convert(100, USD, UZS, DAY, week_old) is not None
    assert convert(100, USD, UZS, DAY, stale) is None
    assert convert(100, USD, UZS, DAY, []) is None


def test_a_cross_rate_needs_both_legs_of_one_date() -> None:
    book = [
        Rate.of(DAY, "USD", "UZS", "12650"),
        Rate.of(DAY - timedelta(days=2), "USD", "UZS", "12600"),
        Rate.of(DAY - timedelta(days=2), "EUR", "UZS", "13000"),
    ]
    found = pair_rate(book, "USD", "EUR", DAY)
    assert found == (Fraction(12600, 13000), DAY - timedelta(days=2))


def test_rates_in_force_per_currency() -> None:
    book = [*BOOK, Rate.of(DAY - timedelta(days=2), "GBP", "UZS", "16000"), Rate.of(DAY, "UZS", "USD", "0.00008")]
    found = latest_rates(book, DAY, "UZS")
    assert {code: (day, show_rate(rate)) for code, (day, rate) in found.items()} == {
        "USD": (DAY, "12650.12"),
        "EUR": (DAY, "13500"),
        "JPY": (DAY, "85.37"),
        "KWD": (DAY, "41234.56"),
        "GBP": (DAY - timedelta(days=2), "16000"),
    }


def test_a_nominal_is_divided_out_exactly() -> None:
    rate = Rate.of(DAY, "KRW", "UZS", "87.12", 10)
    assert rate.per_unit == Fraction("8.712")
    assert show_rate(rate.per_unit) == "8.712"


@pytest.mark.parametrize(
    ("currency", "rate", "nominal", "why"),
    [
        ("USD", 12650.12, 1, "decimal string"),
        ("USD", "-1", 1, "positive"),
        ("USD", "abc", 1, "decimal string"),
        ("USD", "NaN", 1, "finite"),
        ("XYZ", "1", 1, "unknown currency"),
        ("UZS", "1", 1, "itself"),
        ("USD", "1", 0, "nominal"),
    ],
)
def test_a_bad_rate_is_refused(currency: str, rate: object, nominal: int, why: str) -> None:
    with pytest.raises(InvalidRate, match=why):
        Rate.of(DAY, currency, "UZS", rate, nominal)


def test_a_cbu_list_with_a_nominal_of_ten() -> None:
    body = """[
      {"id": 69, "Code": "840", "Ccy": "USD", "CcyNm_EN": "US Dollar", "Nominal": "1", "Rate": "12650.12",
       "Diff": "-3.15", "Date": "15.01.2025"},
      {"id": 45, "Code": "410", "Ccy": "KRW", "CcyNm_EN": "Korean Won", "Nominal": "10", "Rate": "87.12",
       "Diff": "0.2", "Date": "15.01.2025"}
    ]"""
    rates = parse(body, "cbu")
    assert [(r.day, r.currency, r.quote, r.rate, r.nominal) for r in rates] == [
        (DAY, "USD", "UZS", Decimal("12650.12"), 1),
        (DAY, "KRW", "UZS", Decimal("87.12"), 10),
    ]
    done = convert(10_000, Currency.of("KRW"), UZS, DAY, rates)  # 10 000 KRW = 87 120.00 UZS
    assert done is not None and done.amount == 8_712_000 and done.view()["rate"] == "8.712"


def test_the_plain_json_form() -> None:
    rates = parse('{"date": "2025-01-15", "quote": "UZS", "rates": {"USD": "12650.12", "EUR": "13500.5"}}', "json")
    assert {(r.currency, r.rate) for r in rates} == {("USD", Decimal("12650.12")), ("EUR", Decimal("13500.5"))}


@pytest.mark.parametrize(
    ("body", "form", "names"),
    [
        ('[{"Ccy": "USD", "Rate": "1", "Nominal": "1", "Date": "2025-01-15"}]', "cbu", "DD.MM.YYYY"),
        ('[{"Ccy": "USD", "Rate": "x", "Nominal": "1", "Date": "15.01.2025"}]', "cbu", "entry 0 ('USD')"),
        ('{"date": "2025-01-15", "rates": {"USD": true}}', "json", "rates.USD"),
        ('{"date": "15.01.2025", "rates": {"USD": "1"}}', "json", "date"),
        ("not json", "cbu", "not JSON"),
        ("[]", "xml", "unknown format"),
    ],
)
def test_a_bad_file_names_what_is_wrong(body: str, form: str, names: str) -> None:
    with pytest.raises(InvalidRate, match=names.replace("(", r"\(").replace(")", r"\)")):
        parse(body, form)


@pytest.mark.parametrize(
    ("source", "target"),
    [(USD, UZS), (UZS, KWD), (JPY, UZS), (USD, JPY), (EUR, USD), (UZS, UZS)],
)
def test_a_converter_found_once_converts_every_amount_as_convert_does(source: Currency, target: Currency) -> None:
    converter = Converter.between(source, target, DAY, BOOK)
    assert converter is not None
    for minor in (1, 5, 999, 1_234, 10_000, 100_000_000, 123_456_789):
        done = convert(minor, source, target, DAY, BOOK)
        assert done is not None
        assert converter.view(minor) == done.view()
        assert converter.conversion(minor) == done


def test_no_converter_without_a_rate() -> None:
    assert Converter.between(USD, UZS, DAY, []) is None
