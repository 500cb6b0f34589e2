"""Typed gateway details."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain import details
from shared.domain.errors import InvalidDetails
from shared.gateways.registry import GatewayRegistry

REGISTRY = GatewayRegistry.load()


def parse_details(gateway: str, raw: Any) -> dict[str, Any]:
    """The details type each gateway's manifest declares, applied as the ingress and the processor apply it."""
    return details.parse_details(REGISTRY.manifest(gateway).details, raw)


def test_known_fields_are_type_checked() -> None:
    assert parse_details("click", {"merchant_trans_id": "order-1"}) == {"merchant_trans_id": "order-1"}
    with pytest.raises(InvalidDetails, match="wrong type"):
        parse_details("click", {"merchant_trans_id": 12})
    with pytest.raises(InvalidDetails, match="wrong type"):
        parse_details("octo", {"ttl": "soon"})
    with pytest.raises(InvalidDetails, match="wrong type"):
        parse_details("payme", {"account": "1001"})


@pytest.mark.parametrize(
    ("gateway", "field", "value"),
    [("payme", "payme_id", "5305e3bab097f420a62ced0b"), ("payme", "state", 2), ("click", "click_trans_id", 1),
     ("octo", "status", "succeeded"), ("octo", "shop_transaction_id", "x"), ("stripe", "session_id", "cs_1"),
     ("integrator", "error_code", "51")],
)  # fmt: skip
def test_fields_the_gateway_reports_cannot_be_set_by_the_creator(gateway: str, field: str, value: object) -> None:
    with pytest.raises(InvalidDetails, match="cannot set"):
        parse_details(gateway, {field: value})


def test_closed_gateways_refuse_unknown_fields() -> None:
    with pytest.raises(InvalidDetails):
        parse_details("stripe", {"colour": "red"})


def test_free_form_gateways_keep_extra_fields() -> None:
    assert parse_details("cash", {"data": {"till": 3}, "note": "x"}) == {"data": {"till": 3}, "note": "x"}
    with pytest.raises(InvalidDetails):
        parse_details("integrator", {"data": []})


def test_absent_details_are_empty() -> None:
    assert parse_details("cash", None) == {}
    with pytest.raises(InvalidDetails):
        parse_details("cash", ["x"])
