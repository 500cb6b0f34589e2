"""gateways.md's Click vectors: the SHOP API signs, the Merchant API `Auth` header, the pay link, and the
wire-format details the signs depend on (amounts hashed exactly as received)."""

from __future__ import annotations

import pytest

from shared.domain.money import Money
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.shop import (
    BadRequest,
    ClickError,
    Operation,
    answer,
    expected_sign,
    is_signed,
    parse,
    read_fields,
)
from shared.gateways.click.sign import auth_header, complete_sign, prepare_sign, sign_matches
from tests.support.click import PREPARE_VECTOR, SECRET

PREPARE = PREPARE_VECTOR
COMPLETE = {
    **PREPARE,
    "action": "1",
    "merchant_prepare_id": "5001",
    "sign_time": "2025-05-28 12:00:05",
    "sign_string": "81527f407205b08840072af12a0c8efb",
}


def _sign_args(fields: dict[str, str]) -> dict[str, str]:
    names = ("click_trans_id", "service_id", "merchant_trans_id", "amount", "action", "sign_time")
    return {name: fields[name] for name in names}


def test_prepare_sign_vector() -> None:
    assert prepare_sign(SECRET, **_sign_args(PREPARE)) == PREPARE["sign_string"]


def test_complete_sign_vector() -> None:
    args = _sign_args(COMPLETE)
    assert complete_sign(SECRET, merchant_prepare_id="5001", **args) == COMPLETE["sign_string"]


def test_merchant_api_auth_vector() -> None:
    assert auth_header(777, SECRET, 1748419200) == "777:eda51fa94ad9030720dc5c713f645e0f325c91db:1748419200"


@pytest.mark.parametrize(("operation", "fields"), [(Operation.PREPARE, PREPARE), (Operation.COMPLETE, COMPLETE)])
def test_the_endpoints_check_the_vectors_over_the_received_strings(
    operation: Operation, fields: dict[str, str]
) -> None:
    call = parse(operation, fields)

    assert expected_sign(operation, fields, SECRET) == fields["sign_string"]
    assert is_signed(call, SECRET)
    assert not is_signed(call, SECRET + "x")


def test_the_amount_is_hashed_exactly_as_received() -> None:
    plain = {**PREPARE, "amount": "15000"}

    assert expected_sign(Operation.PREPARE, plain, SECRET) != PREPARE["sign_string"]
    assert not is_signed(parse(Operation.PREPARE, plain), SECRET)


def test_a_sign_of_the_other_endpoint_does_not_pass() -> None:
    """Each endpoint checks its own formula: a Prepare sign posted to /complete fails (-1)."""
    as_complete = {**PREPARE, "merchant_prepare_id": "5001"}

    assert not is_signed(parse(Operation.COMPLETE, as_complete), SECRET)


def test_sign_comparison_accepts_only_the_right_digest() -> None:
    right = PREPARE["sign_string"]

    assert sign_matches(right, right)
    assert sign_matches(right, right.upper())  # hex case carries no meaning
    assert not sign_matches(right, right[:-1] + "0")
    assert not sign_matches(right, "")


def test_json_bodies_keep_numbers_as_sent() -> None:
    raw = (
        b'{"click_trans_id": 2854321987, "service_id": 12345, "click_paydoc_id": 3987654321, '
        b'"merchant_trans_id": "order-1001", "amount": 15000.00, "action": 0, "error": 0, '
        b'"error_note": "Success", "sign_time": "2025-05-28 12:00:00", '
        b'"sign_string": "5168e3812610f5f2056fdf687b09d56e"}'
    )

    fields = read_fields(raw, "application/json")

    assert fields == PREPARE
    assert is_signed(parse(Operation.PREPARE, fields), SECRET)


def test_form_bodies_are_read_with_blank_values_and_refused_when_ambiguous() -> None:
    assert read_fields(b"error_note=&amount=15000.00", "application/x-www-form-urlencoded") == {
        "error_note": "",
        "amount": "15000.00",
    }
    with pytest.raises(BadRequest, match="more than once"):
        read_fields(b"amount=1&amount=2", "application/x-www-form-urlencoded")
    with pytest.raises(BadRequest):
        read_fields(b"\xff\xfe", "application/x-www-form-urlencoded")
    with pytest.raises(BadRequest):
        read_fields(b'{"amount": [1]}', "application/json")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sign_string": ""}, "missing sign_string"),
        ({"click_trans_id": "12a"}, "click_trans_id"),
        ({"amount": "15 000"}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"error": "5"}, "error"),
    ],
)
def test_malformed_calls_are_request_errors(change: dict[str, str], reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        parse(Operation.PREPARE, {**PREPARE, **change})


def test_complete_needs_the_prepare_id() -> None:
    with pytest.raises(BadRequest, match="merchant_prepare_id"):
        parse(Operation.COMPLETE, {k: v for k, v in COMPLETE.items() if k != "merchant_prepare_id"})


def test_answers_have_clicks_five_keys() -> None:
    assert answer(Operation.PREPARE, PREPARE, ClickError.SUCCESS, 5001) == {
        "click_trans_id": 2854321987,
        "merchant_trans_id": "order-1001",
        "merchant_prepare_id": 5001,
        "error": 0,
        "error_note": "Success",
    }
    assert answer(Operation.COMPLETE, {}, ClickError.BAD_REQUEST) == {
        "click_trans_id": None,
        "merchant_trans_id": None,
        "merchant_confirm_id": None,
        "error": -8,
        "error_note": "Error in request from click",
    }


def test_pay_link_carries_the_amount_in_sum_and_the_order_reference() -> None:
    from shared.gateways.click.adapter import pay_link

    config = ClickConfig(service_id=12345, merchant_id=6789, merchant_user_id=777, secret_key=SECRET)
    link = pay_link(config, Money.of(1_500_000, "UZS"), "order-1001", "https://shop.example.uz/return")

    assert link == (
        "https://my.click.uz/services/pay?service_id=12345&merchant_id=6789&amount=15000.00"
        "&transaction_param=order-1001&return_url=https%3A%2F%2Fshop.example.uz%2Freturn"
    )
    assert pay_link(config, Money.of(1_500_000, "USD"), "order-1001", None) is None, "Click charges in sum only"
