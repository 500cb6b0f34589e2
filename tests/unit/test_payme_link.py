"""Payme's checkout link and Basic credentials against gateways.md's vectors, and the adapter's link rules."""

from __future__ import annotations

import base64
import json
import uuid
from importlib.resources import files

import pytest

from shared.domain.money import Money
from shared.gateways.base import GatewayAccount, check_config
from shared.gateways.payme import ADAPTER
from shared.gateways.payme.errors import LANGUAGES, Fault, PaymeError
from shared.gateways.payme.link import checkout_link
from shared.gateways.payme.protocol import RpcFailure, authenticate, basic_header, parse_request

KEY = "fkWW6UNrzvzyV6DhrdHJ6aEhr3dRcvJYkaGx"
MERCHANT = "587f72c72cac0d162c722ae2"
VECTOR = "bT01ODdmNzJjNzJjYWMwZDE2MmM3MjJhZTI7YWMub3JkZXJfaWQ9MTAwMTthPTE1MDAwMDA7Yz1odHRwczovL3Nob3AuZXhhbXBsZS51ei9yZXR1cm4="  # noqa: E501


def account(**config: object) -> GatewayAccount:
    checked = check_config(ADAPTER, {"merchant_id": MERCHANT, "key": KEY, **config})
    return GatewayAccount(uuid.uuid4(), uuid.uuid4(), "payme", checked)


def decoded(link: str, base: str = "https://checkout.paycom.uz/") -> str:
    assert link.startswith(base)
    return base64.b64decode(link.removeprefix(base)).decode()  # base64 may hold "/": strip, never split


def test_the_checkout_link_vector() -> None:
    link = checkout_link(
        "https://checkout.paycom.uz", MERCHANT, "order_id", "1001", 1_500_000, "https://shop.example.uz/return"
    )
    assert link == f"https://checkout.paycom.uz/{VECTOR}"


def test_the_adapter_builds_the_vector_from_the_creators_details() -> None:
    details = {"account": {"order_id": "1001"}, "return_url": "https://shop.example.uz/return"}
    link = ADAPTER.payment_link(account(), uuid.uuid4(), Money.of(1_500_000, "UZS"), details)
    assert link == f"https://checkout.paycom.uz/{VECTOR}"


def test_without_an_account_value_the_link_names_the_transaction_id_and_adds_the_language() -> None:
    transaction_id = uuid.uuid4()
    link = ADAPTER.payment_link(
        account(account_field="invoice", checkout_url="https://test.paycom.uz/"),
        transaction_id,
        Money.of(990, "UZS"),
        {"language": "uz"},
    )
    assert link is not None
    assert decoded(link, "https://test.paycom.uz/") == f"m={MERCHANT};ac.invoice={transaction_id};a=990;l=uz"


def test_an_unknown_language_is_left_out_and_a_semicolon_in_the_return_url_is_escaped() -> None:
    details = {"account": {"order_id": "7"}, "language": "de", "return_url": "https://x.uz/r;a=1"}
    link = ADAPTER.payment_link(account(), uuid.uuid4(), Money.of(100, "UZS"), details)
    assert link is not None and decoded(link) == f"m={MERCHANT};ac.order_id=7;a=100;c=https://x.uz/r%3Ba=1"


def test_payme_takes_only_sum() -> None:
    assert ADAPTER.payment_link(account(), uuid.uuid4(), Money.of(100, "USD"), {}) is None


def test_the_basic_header_vector_and_constant_time_auth() -> None:
    header = "Basic UGF5Y29tOmZrV1c2VU5yenZ6eVY2RGhyZEhKNmFFaHIzZFJjdkpZa2FHeA=="
    assert basic_header(KEY) == header
    assert authenticate({"key": KEY}, header) == "key"
    assert authenticate({"key": "live", "test_key": KEY, "sandbox": True}, header) == "test_key"
    assert authenticate({"key": "live", "test_key": KEY, "sandbox": False}, header) is None, "live: a wrong key"
    assert authenticate({"key": "live", "test_key": KEY}, header) is None, "sandbox defaults to false"
    assert authenticate({"key": "live", "test_key": None, "sandbox": True}, header) is None
    wrong_login = "Basic " + base64.b64encode(f"Other:{KEY}".encode()).decode()
    assert authenticate({"key": KEY}, wrong_login) is None
    assert authenticate({"key": KEY}, "Bearer " + header.split()[1]) is None
    assert authenticate({"key": KEY}, "Basic !!not-base64!!") is None
    assert authenticate({"key": KEY}, None) is None


def test_the_config_keeps_keys_secret_and_fills_defaults() -> None:
    config = account().config
    assert config["account_field"] == "order_id" and config["one_time"] is True
    assert config["checkout_url"] == "https://checkout.paycom.uz" and config["allow_cancel_after_perform"] is True
    assert config["sandbox"] is False
    assert ADAPTER.config_model.secret_fields == {"key", "test_key"}


def test_every_message_exists_in_ru_uz_and_en() -> None:
    for language in LANGUAGES:
        catalog = json.loads(files("shared.gateways.payme").joinpath("locales", f"{language}.json").read_text("utf-8"))
        assert {fault.key for fault in Fault} == set(catalog), language
    for fault in Fault:
        message = PaymeError(fault).body()["message"]
        assert set(message) == {"ru", "uz", "en"} and all(message.values())
        assert len(set(message.values())) == 3, f"{fault.name} is not translated"


@pytest.mark.parametrize(
    ("raw", "code", "data"),
    [
        (b"{not json", -32700, None),
        (b"[1, 2]", -32600, None),
        (b'{"method": "CheckTransaction", "params": {}}', -32600, "id"),
        (b'{"id": true, "method": "CheckTransaction", "params": {}}', -32600, "id"),
        (b'{"id": 1, "method": 5, "params": {}}', -32600, "method"),
        (b'{"id": 1, "method": "CheckTransaction", "params": []}', -32600, "params"),
        (b'{"id": 1, "method": "DropTables", "params": {}}', -32601, "DropTables"),
    ],
)
def test_the_envelope_is_checked_in_payme_terms(raw: bytes, code: int, data: str | None) -> None:
    with pytest.raises(RpcFailure) as refused:
        parse_request(raw)
    assert refused.value.error.fault.code == code and refused.value.error.data == data
