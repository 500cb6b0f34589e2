"""Stripe's amounts and error classes, translated in one place."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.gateways.base import ProviderRejected, ProviderUnavailable
from shared.gateways.stripe.amounts import AmountNotAccepted, from_stripe, to_stripe
from shared.gateways.stripe.client import is_transient, translate
from shared.gateways.stripe.facts import session_outcome

errors: Any = stripe  # some of the library's error constructors are untyped


@pytest.mark.parametrize(
    ("minor", "code", "sent"),
    [
        (1050, "USD", 1050),  # cents
        (5000, "JPY", 5000),  # zero-decimal: yen
        (12_340, "KWD", 12_340),  # three-decimal: fils, in steps of 10
        (1500, "ISK", 150_000),  # ISO says zero decimals, Stripe keeps two
        (150_000, "MGA", 1500),  # ISO says two decimals, Stripe none
    ],
)
def test_amounts_go_to_stripe_and_back_unchanged(minor: int, code: str, sent: int) -> None:
    money = Money.of(minor, code)
    assert to_stripe(money) == sent
    assert from_stripe(sent, code.lower()) == money


@pytest.mark.parametrize(("minor", "code"), [(12_345, "KWD"), (1005, "BHD"), (150_050, "MGA")])
def test_amounts_stripe_would_round_are_refused(minor: int, code: str) -> None:
    with pytest.raises(AmountNotAccepted):
        to_stripe(Money.of(minor, code))


@pytest.mark.parametrize(
    ("status", "payment_status", "ours"),
    [
        ("complete", "paid", TransactionStatus.COMPLETED),
        ("complete", "no_payment_required", TransactionStatus.CANCELED),
        ("complete", "unpaid", None),
        ("open", "unpaid", None),
        ("expired", "unpaid", TransactionStatus.EXPIRED),
        ("something_new", "paid", None),
    ],
)
def test_session_states_map_to_ours(status: str, payment_status: str, ours: TransactionStatus | None) -> None:
    assert session_outcome(status, payment_status) is ours


@pytest.mark.parametrize(
    ("error", "retried", "becomes"),
    [
        (errors.APIConnectionError("timed out"), True, ProviderUnavailable),
        (stripe.RateLimitError("slow down", http_status=429), True, ProviderUnavailable),
        (stripe.APIError("boom", http_status=503), True, ProviderUnavailable),
        (stripe.APIError("same key in flight", http_status=409), False, ProviderUnavailable),
        (
            errors.InvalidRequestError("No such price", "price", code="resource_missing", http_status=400),
            False,
            ProviderRejected,
        ),
        (stripe.AuthenticationError("Invalid API Key", http_status=401), False, ProviderRejected),
        (errors.CardError("declined", "card", "card_declined", http_status=402), False, ProviderRejected),
    ],
)
def test_only_timeouts_429_and_5xx_are_retried(error: stripe.StripeError, retried: bool, becomes: type) -> None:
    assert is_transient(error) is retried
    translated = translate(error, "the call")
    assert isinstance(translated, becomes)
    if error.code:
        assert error.code in str(translated)
