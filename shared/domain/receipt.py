"""Fiscal receipts (Uzbekistan's OFD): the items a payment is registered with, checked at creation."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from shared.domain.errors import InvalidDetails

IKPU_DIGITS = 17
ITEM_FIELDS = frozenset({"title", "price", "count", "code", "package_code", "vat_percent", "units", "discount"})
RECEIPT_FIELDS = frozenset({"receipt_type", "items", "shipping"})
MAX_ITEMS = 500


class InvalidReceipt(InvalidDetails):
    code = "invalid_receipt"


class ReceiptRequired(InvalidDetails):
    code = "receipt_required"


@dataclass(frozen=True, slots=True)
class Line:
    """One item as the OFD books it: every amount in minor units (tiyin)."""

    title: str
    price: int
    count: int
    discount: int
    vat_percent: int

    @property
    def gross(self) -> int:
        """The line before its discount."""
        return self.price * self.count

    @property
    def total(self) -> int:
        return self.gross - self.discount

    @property
    def vat(self) -> int:
        """VAT inside the line's total (Uzbek prices include it), rounded half to even."""
        return vat_included(self.total, self.vat_percent)


def vat_included(total: int, percent: int) -> int:
    """round(total * p / (100 + p)), half to even, exactly: 1 000 000 at 12 % holds 107 143."""
    return round(Fraction(total * percent, 100 + percent))


def check_receipt(raw: object, amount: int, *, title_limit: int = 255) -> dict[str, Any]:
    """The receipt as stored, or InvalidReceipt naming the offending field (`details.receipt.items[2].code`)."""
    where = "details.receipt"
    receipt = _object(raw, where, RECEIPT_FIELDS)
    receipt_type = receipt.get("receipt_type", 0)
    _integer(receipt_type, f"{where}.receipt_type", low=0)
    items = receipt.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidReceipt(f"{where}.items must be a list of 1 to {MAX_ITEMS} items")
    lines = [_named(item, f"{where}.items[{index}]", title_limit) for index, item in enumerate(items)]
    shipping_price = 0
    if receipt.get("shipping") is not None:
        shipping = _object(receipt["shipping"], f"{where}.shipping", frozenset({"title", "price"}))
        _title(shipping.get("title"), f"{where}.shipping.title", title_limit)
        shipping_price = _integer(shipping.get("price"), f"{where}.shipping.price", low=0)
    total = sum(line.total for line in lines) + shipping_price
    if total != amount:
        raise InvalidReceipt(
            f"{where}: the items (price * count - discount) and shipping come to {total}, not the amount {amount}"
        )
    return {**receipt, "receipt_type": receipt_type}


def lines_of(receipt: dict[str, Any]) -> list[Line]:
    """The items of a receipt stored by `check_receipt`."""
    return [
        Line(str(item["title"]), item["price"], item["count"], item.get("discount") or 0, item["vat_percent"])
        for item in receipt["items"]
    ]


def _named(item: object, where: str, title_limit: int) -> Line:
    """The item's line; its error names the item by its place and, when it has one, its title."""
    try:
        return _line(item, where, title_limit)
    except InvalidReceipt as exc:
        title = item.get("title") if isinstance(item, dict) else None
        if not isinstance(title, str) or not title.strip():
            raise
        raise InvalidReceipt(f"{exc} (the item {title[:80]!r})") from None


def _line(item: object, where: str, title_limit: int) -> Line:
    fields = _object(item, where, ITEM_FIELDS)
    title = _title(fields.get("title"), f"{where}.title", title_limit)
    price = _integer(fields.get("price"), f"{where}.price", low=0)
    count = _integer(fields.get("count"), f"{where}.count", low=1)
    code = fields.get("code")
    if not isinstance(code, str) or len(code) != IKPU_DIGITS or not code.isdigit():
        raise InvalidReceipt(f"{where}.code must be the {IKPU_DIGITS}-digit IKPU (MXIK) as a string, got {code!r}")
    package = fields.get("package_code")
    if not isinstance(package, str) or not package.strip() or len(package) > 64:
        raise InvalidReceipt(f"{where}.package_code must be the package code of that IKPU, got {package!r}")
    vat_percent = _integer(fields.get("vat_percent"), f"{where}.vat_percent", low=0)
    if vat_percent > 100:
        raise InvalidReceipt(f"{where}.vat_percent must be a whole percent from 0 to 100, got {vat_percent}")
    if fields.get("units") is not None:
        _integer(fields["units"], f"{where}.units", low=0)
    discount = 0 if fields.get("discount") is None else _integer(fields["discount"], f"{where}.discount", low=0)
    if discount > price * count:
        raise InvalidReceipt(f"{where}.discount {discount} exceeds the line's {price * count}")
    return Line(title, price, count, discount, vat_percent)


def _object(raw: object, where: str, known: frozenset[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidReceipt(f"{where} must be an object")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidReceipt(f"{where} has unknown field(s) {', '.join(unknown)}")
    return raw


def _integer(value: object, where: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidReceipt(f"{where} must be an integer of at least {low} (minor units for amounts), got {value!r}")
    return value


def _title(value: object, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidReceipt(f"{where} must be a text of 1 to {limit} characters")
    return value
