"""Typed transaction details: each gateway declares its shape (a GatewayDetails); stored as JSON, checked here."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from shared.domain.errors import InvalidDetails
from shared.domain.receipt import ReceiptRequired, check_receipt


@dataclass(frozen=True)
class GatewayDetails:
    gateway: ClassVar[str]
    open_ended: ClassVar[bool] = False  # free-form gateways keep keys they do not know
    creator_fields: ClassVar[frozenset[str] | None] = None
    """The fields whoever creates the payment may set; the rest are the gateway's to report (None: all)."""
    references: ClassVar[tuple[str, ...]] = ()
    """Top-level fields holding the gateway's own ids, each with a lookup index: what a person searches by."""
    receipt_title_limit: ClassVar[int | None] = None
    """Gateways that register fiscal receipts (`details.receipt`) set the longest item title they take."""


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "dict[str, Any]": (dict,),
    "list[Any]": (list,),
}


def _accepts(annotation: str, value: Any) -> bool:
    base = annotation.replace(" | None", "")
    allowed = _PYTHON_TYPES[base]
    if base == "int" and isinstance(value, bool):
        return False
    return isinstance(value, allowed)


def _creator_may_set(cls: type[GatewayDetails], name: str) -> bool:
    return cls.creator_fields is None or name in cls.creator_fields


def parse_details(cls: type[GatewayDetails] | None, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Check `raw` against the gateway's details type (None: free-form) and return it as stored JSON."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidDetails("details must be a JSON object")
    if cls is None:
        return dict(raw)
    gateway = cls.gateway
    annotations = {f.name: str(cls.__annotations__[f.name]) for f in fields(cls)}
    unknown = sorted(set(raw) - set(annotations))
    if unknown and not cls.open_ended:
        raise InvalidDetails(f"unknown {gateway} details field(s): {', '.join(unknown)}")
    reported = sorted(name for name in raw if name in annotations and not _creator_may_set(cls, name))
    if reported:
        raise InvalidDetails(f"{gateway} reports {', '.join(reported)} itself; a payment's creator cannot set it")
    for name, value in raw.items():
        if name in annotations and value is not None and not _accepts(annotations[name], value):
            raise InvalidDetails(f"details.{name} has the wrong type for {gateway}")
    return {k: v for k, v in raw.items() if v is not None}


def admit_receipt(
    cls: type[GatewayDetails] | None, details: dict[str, Any], amount: int, *, required: bool
) -> dict[str, Any]:
    """Details with their fiscal receipt checked against the amount; ReceiptRequired when the account needs one."""
    if cls is None or cls.receipt_title_limit is None:
        return details
    raw = details.get("receipt")
    if raw is None:
        if required:
            raise ReceiptRequired("this gateway account requires a fiscal receipt: send details.receipt with the items")
        return details
    return {**details, "receipt": check_receipt(raw, amount, title_limit=cls.receipt_title_limit)}
