"""Fiscal receipts: checked at creation, Payme's `detail`, Click's OFD items, VAT inside the price."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.details import admit_receipt
from shared.domain.errors import InvalidDetails
from shared.domain.money import Money
from shared.domain.receipt import InvalidReceipt, ReceiptRequired, check_receipt, lines_of, vat_included
from shared.domain.transaction import Transaction
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.details import ClickDetails
from shared.gateways.click.fiscal import ofd_items, submission
from shared.gateways.payme.details import PaymeDetails
from shared.gateways.payme.records import check_perform_result

IKPU = "10899002001000000"


def item(**overrides: Any) -> dict[str, Any]:
    line = {
        "title": "Kitob",
        "price": 505_000,
        "count": 2,
        "code": IKPU,
        "package_code": "1505913",
        "vat_percent": 12,
        "units": 241092,
        "discount": 10_000,
    }
    return {**line, **overrides}


RECEIPT = {"receipt_type": 0, "items": [item()], "shipping": {"title": "Yetkazib berish", "price": 20_000}}
AMOUNT = 1_020_000  # 2 x 505 000 - 10 000 + 20 000


def test_the_vat_vector_of_gateways_md() -> None:
    line = lines_of(check_receipt(RECEIPT, AMOUNT))[0]
    assert (line.gross, line.total, line.vat) == (1_010_000, 1_000_000, 107_143)


@pytest.mark.parametrize(
    ("total", "percent", "vat"), [(1_000_000, 12, 107_143), (112, 12, 12), (0, 12, 0), (500, 0, 0), (230, 15, 30)]
)
def test_vat_is_the_part_of_the_price_rounded_half_to_even(total: int, percent: int, vat: int) -> None:
    assert vat_included(total, percent) == vat


def test_halves_of_vat_round_to_even() -> None:
    # 105 x 5/105 = 5 exactly; 21 x 5/105 = 1; 42 x 25/125 = 8.4 -> 8; 5 x 50/150 = 1.666 -> 2; 3 x 100/200 = 1.5 -> 2
    assert [vat_included(t, p) for t, p in ((105, 5), (21, 5), (42, 25), (5, 50), (3, 100), (1, 100))] == [
        5,
        1,
        8,
        2,
        2,
        0,
    ]


def test_a_receipt_that_sums_to_the_amount_is_kept_as_given() -> None:
    assert check_receipt(RECEIPT, AMOUNT) == RECEIPT
    assert check_receipt({"items": [item(discount=None)]}, 1_010_000)["receipt_type"] == 0


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda r: r["items"].append(item(code="123")), "details.receipt.items[1].code"),
        (lambda r: r["items"][0].update(code=10899002001000000), "details.receipt.items[0].code"),
        (lambda r: r["items"][0].update(vat_percent=12.5), "details.receipt.items[0].vat_percent"),
        (lambda r: r["items"][0].update(vat_percent=101), "details.receipt.items[0].vat_percent"),
        (lambda r: r["items"][0].pop("package_code"), "details.receipt.items[0].package_code"),
        (lambda r: r["items"][0].update(count=0), "details.receipt.items[0].count"),
        (lambda r: r["items"][0].update(price=5050.5), "details.receipt.items[0].price"),
        (lambda r: r["items"][0].update(discount=2_000_000), "details.receipt.items[0].discount"),
        (lambda r: r["items"][0].update(colour="red"), "details.receipt.items[0] has unknown field"),
        (lambda r: r["items"][0].update(title=""), "details.receipt.items[0].title"),
        (lambda r: r.update(items=[]), "details.receipt.items"),
        (lambda r: r["shipping"].update(price=-1), "details.receipt.shipping.price"),
        (lambda r: r["shipping"].update(price=20_001), "come to 1020001, not the amount 1020000"),
    ],
)
def test_a_bad_receipt_is_refused_naming_what_is_wrong(change: Any, names: str) -> None:
    receipt = copy.deepcopy(RECEIPT)
    change(receipt)
    with pytest.raises(InvalidReceipt, match=names.replace("[", r"\[").replace("]", r"\]")):
        check_receipt(receipt, AMOUNT)


def test_an_error_names_the_item_by_its_title_too() -> None:
    with pytest.raises(InvalidReceipt, match=r"items\[0\]\.vat_percent .* \(the item 'Kitob'\)"):
        check_receipt({"items": [item(vat_percent="12")]}, AMOUNT)


def test_an_account_that_requires_receipts_refuses_a_payment_without_one() -> None:
    with pytest.raises(ReceiptRequired):
        admit_receipt(PaymeDetails, {"account": {"order_id": "1"}}, AMOUNT, required=True)
    assert admit_receipt(PaymeDetails, {}, AMOUNT, required=False) == {}
    assert admit_receipt(ClickDetails, {"receipt": RECEIPT}, AMOUNT, required=True) == {"receipt": RECEIPT}
    assert issubclass(ReceiptRequired, InvalidDetails) and ReceiptRequired.code == "receipt_required"
    long_title = {"items": [item(title="x" * 64, discount=None)]}
    assert admit_receipt(PaymeDetails, {"receipt": long_title}, 1_010_000, required=False)
    with pytest.raises(InvalidReceipt, match="1 to 63 characters"):
        admit_receipt(ClickDetails, {"receipt": long_title}, 1_010_000, required=False)


def order(details: dict[str, Any], amount: int = AMOUNT) -> Transaction:
    now = datetime(2025, 5, 28, tzinfo=UTC)
    return Transaction.open(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        gateway="payme",
        money=Money.of(amount, "UZS"),
        details=details,
        metadata={},
        at=now,
    )


def test_payme_check_perform_answers_the_receipt_as_detail() -> None:
    assert check_perform_result(order({"receipt": RECEIPT})) == {
        "allow": True,
        "detail": {
            "receipt_type": 0,
            "shipping": {"title": "Yetkazib berish", "price": 20_000},
            "items": [
                {
                    "discount": 10_000,
                    "title": "Kitob",
                    "price": 505_000,
                    "count": 2,
                    "code": IKPU,
                    "units": 241092,
                    "vat_percent": 12,
                    "package_code": "1505913",
                }
            ],
        },
    }
    bare = {"items": [item(discount=None, units=None)]}
    answer = check_perform_result(order({"receipt": check_receipt(bare, 1_010_000)}, 1_010_000))
    assert answer["detail"] == {
        "receipt_type": 0,
        "items": [
            {"title": "Kitob", "price": 505_000, "count": 2, "code": IKPU, "vat_percent": 12, "package_code": "1505913"}
        ],
    }
    assert check_perform_result(order({})) == {"allow": True}


def test_click_gets_the_items_in_its_ofd_shape() -> None:
    config = ClickConfig(service_id=12345, merchant_id=1, merchant_user_id=777, secret_key="s", tin="123456789")
    tx = order({"receipt": RECEIPT, "click_paydoc_id": 3987654321})
    assert submission(tx, config) == {
        "service_id": 12345,
        "payment_id": 3987654321,
        "items": [
            {
                "Name": "Kitob",
                "SPIC": IKPU,
                "PackageCode": "1505913",
                "GoodPrice": 505_000,
                "Price": 1_010_000,
                "Amount": 2,
                "VAT": 107_143,
                "VATPercent": 12,
                "Discount": 10_000,
                "Units": 241092,
                "CommissionInfo": {"TIN": "123456789"},
            }
        ],
        "received_ecash": 0,
        "received_cash": 0,
        "received_card": AMOUNT,
    }
    by_pinfl = ClickConfig(service_id=1, merchant_id=1, merchant_user_id=1, secret_key="s", pinfl="12345678901234")
    assert ofd_items(RECEIPT, by_pinfl)[0]["CommissionInfo"] == {"PINFL": "12345678901234"}
