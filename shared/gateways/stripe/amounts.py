"""Our amounts (ISO 4217 minor units) to Stripe's and back; Stripe's few deviations from ISO live here only."""

from __future__ import annotations

from shared.domain.money import Currency, Money

# Stripe counts these differently from ISO 4217: ISK stays two-decimal in its API (100 = 1 króna),
# MGA is zero-decimal there although ISO gives it two decimals.
_STRIPE_EXPONENT = {"ISK": 2, "MGA": 0}
# Stripe only takes amounts that are whole multiples of these (in its own units): three-decimal currencies
# must end in 0, ISK must be whole krónur.
_STRIPE_STEP = {"BHD": 10, "JOD": 10, "KWD": 10, "OMR": 10, "TND": 10, "ISK": 100}


class AmountNotAccepted(ValueError):
    """An amount Stripe cannot charge or refund in this currency (it would be rounded)."""


def stripe_exponent(currency: Currency) -> int:
    return _STRIPE_EXPONENT.get(currency.code, currency.exponent)


def to_stripe(money: Money) -> int:
    """The `amount` / `unit_amount` Stripe expects for `money`; refuses rather than rounds."""
    shift = stripe_exponent(money.currency) - money.currency.exponent
    if shift >= 0:
        amount = money.minor * int(10**shift)
    else:
        amount, rest = divmod(money.minor, int(10**-shift))
        if rest:
            raise AmountNotAccepted(f"Stripe takes {money.currency.code} in whole units only; {money.minor} is not")
    step = _STRIPE_STEP.get(money.currency.code, 1)
    if amount % step:
        raise AmountNotAccepted(
            f"Stripe takes {money.currency.code} amounts only in steps of {step} of its unit; {amount} is not one"
        )
    return amount


def from_stripe(amount: int, currency: str) -> Money:
    """A Stripe amount (`amount_paid`, a refund's `amount`) in our minor units; `currency` as Stripe writes it."""
    code = Currency.of(currency.upper())
    shift = stripe_exponent(code) - code.exponent
    if shift <= 0:
        return Money(amount * int(10**-shift), code)
    minor, rest = divmod(amount, int(10**shift))
    if rest:
        raise AmountNotAccepted(f"Stripe amount {amount} {code.code} has a fraction of our minor unit")
    return Money(minor, code)
