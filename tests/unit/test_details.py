"""Typed gateway details."""

from __future__ import annotations

import pytest

from shared.domain.details import parse_details
from shared.domain.errors import InvalidDetails


def test_known_fields_are_type_checked() -> None:
    assert parse_details("click", {"merchant_trans_id": "order-1"}) == {"merchant_trans_id": "order-1"}
    with pytest.raises(InvalidDetails):
        parse_details("click", {"service_id": "12"})
    with pytest.raises(InvalidDetails):
        parse_details("octo", {"auto_capture": "yes"})
    with pytest.raises(InvalidDetails):
        parse_details("payme", {"state": True})


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
        parse_details("cash", ["x"])  # type: ignore[arg-type]
