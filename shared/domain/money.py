"""Money as integer minor units of an ISO 4217 currency."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.domain.errors import InvalidAmount, UnknownCurrency

# ISO 4217 minor-unit exponents. Codes whose minor unit is "N.A." (metals, SDR, test) count as 0.
_EXPONENT_EXCEPTIONS: dict[str, int] = {
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "XAG": 0,
    "XAU": 0,
    "XBA": 0,
    "XBB": 0,
    "XBC": 0,
    "XBD": 0,
    "XDR": 0,
    "XPD": 0,
    "XPT": 0,
    "XSU": 0,
    "XTS": 0,
    "XUA": 0,
    "XXX": 0,
}
_TWO_DECIMAL_CODES = [
    "AED",
    "AFN",
    "ALL",
    "AMD",
    "ANG",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BMD",
    "BND",
    "BOB",
    "BOV",
    "BRL",
    "BSD",
    "BTN",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CDF",
    "CHE",
    "CHF",
    "CHW",
    "CNY",
    "COP",
    "COU",
    "CRC",
    "CUC",
    "CUP",
    "CVE",
    "CZK",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ERN",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IRR",
    "JMD",
    "KES",
    "KGS",
    "KHR",
    "KPW",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MXV",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "SAR",
    "SBD",
    "SCR",
    "SDG",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SLL",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SYP",
    "SZL",
    "THB",
    "TJS",
    "TMT",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "USD",
    "USN",
    "UYU",
    "UZS",
    "VED",
    "VES",
    "WST",
    "XCD",
    "XCG",
    "YER",
    "ZAR",
    "ZMW",
    "ZWG",
    "ZWL",
]
ISO_4217_EXPONENTS: dict[str, int] = {code: 2 for code in _TWO_DECIMAL_CODES} | _EXPONENT_EXCEPTIONS


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int

    @classmethod
    def of(cls, code: object) -> Currency:
        if not isinstance(code, str) or code not in ISO_4217_EXPONENTS:
            raise UnknownCurrency(f"unknown currency {code!r}: expected an ISO 4217 code such as 'UZS'")
        return cls(code, ISO_4217_EXPONENTS[code])


@dataclass(frozen=True, slots=True)
class Money:
    """A non-negative amount in the currency's minor unit (tiyin, cents, fils...)."""

    minor: int
    currency: Currency

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise InvalidAmount("amount must be an integer in the currency's minor unit")
        if self.minor < 0:
            raise InvalidAmount("amount must not be negative")

    @classmethod
    def of(cls, minor: object, code: object) -> Money:
        return cls(minor, Currency.of(code))  # type: ignore[arg-type]

    @classmethod
    def positive(cls, minor: object, code: object) -> Money:
        money = cls.of(minor, code)
        if money.minor == 0:
            raise InvalidAmount("amount must be greater than zero")
        return money

    def major(self) -> Decimal:
        return Decimal(self.minor).scaleb(-self.currency.exponent)

    def major_str(self) -> str:
        """The amount in major units with exactly the currency's decimals: 1500000 UZS -> '15000.00'."""
        return f"{self.major():.{self.currency.exponent}f}"

    @classmethod
    def from_major(cls, major: str | Decimal, code: str) -> Money:
        currency = Currency.of(code)
        value = Decimal(major).scaleb(currency.exponent)
        if value != value.to_integral_value():
            raise InvalidAmount(f"{major} has more decimals than {code} allows")
        return cls(int(value), currency)
