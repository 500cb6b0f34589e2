"""Typed transaction details, one shape per gateway; stored as JSON, checked here."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from shared.domain.errors import InvalidDetails


@dataclass(frozen=True)
class GatewayDetails:
    gateway: ClassVar[str]
    open_ended: ClassVar[bool] = False  # free-form gateways keep keys they do not know
    creator_fields: ClassVar[frozenset[str] | None] = None
    """The fields whoever creates the payment may set; the rest are the gateway's to report (None: all)."""


@dataclass(frozen=True)
class ClickDetails(GatewayDetails):
    gateway: ClassVar[str] = "click"
    creator_fields: ClassVar[frozenset[str] | None] = frozenset({"merchant_trans_id", "return_url"})
    service_id: int | None = None
    merchant_id: int | None = None
    merchant_trans_id: str | None = None
    merchant_prepare_id: int | None = None
    merchant_confirm_id: int | None = None
    click_trans_id: int | None = None
    click_paydoc_id: int | None = None
    payment_status: int | None = None
    sign_time: str | None = None
    error_code: int | None = None
    error_note: str | None = None
    return_url: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class PaymeDetails(GatewayDetails):
    gateway: ClassVar[str] = "payme"
    creator_fields: ClassVar[frozenset[str] | None] = frozenset({"account", "return_url", "language"})
    merchant_id: str | None = None
    payme_id: str | None = None
    transaction_ref: str | None = None
    state: int | None = None
    payme_time: int | None = None
    create_time: int | None = None
    perform_time: int | None = None
    cancel_time: int | None = None
    account: dict[str, Any] | None = None
    receivers: list[Any] | None = None
    reason: int | None = None
    fiscal_data: dict[str, Any] | None = None
    return_url: str | None = None
    language: str | None = None
    link: str | None = None
    repeat_of: str | None = None  # a repeat payment of this order (accounts with one_time false)


@dataclass(frozen=True)
class OctoDetails(GatewayDetails):
    gateway: ClassVar[str] = "octo"
    creator_fields: ClassVar[frozenset[str] | None] = frozenset(
        {"description", "return_url", "user_data", "basket", "language", "payment_methods", "ttl"}
    )
    shop_id: int | None = None
    shop_transaction_id: str | None = None
    octo_payment_uuid: str | None = None
    auto_capture: bool | None = None
    test: bool | None = None
    status: str | None = None
    card_type: str | None = None
    card_country: str | None = None
    masked_pan: str | None = None
    rrn: str | None = None
    risk_level: int | None = None
    refunded_sum: str | None = None
    transfer_sum: str | None = None
    total_sum: str | None = None
    payed_time: str | None = None
    card_vendor: str | None = None
    is_physical_card: bool | None = None
    error_note: str | None = None
    # Our capture decision (accept_status, final_amount, accept_outcome) is kept in details too, but is
    # deliberately not a field here: parse_details refuses it as input, so no creator can pre-set a capture.
    pay_url: str | None = None
    description: str | None = None
    return_url: str | None = None
    user_data: dict[str, Any] | None = None
    basket: list[Any] | None = None
    language: str | None = None
    payment_methods: list[Any] | None = None
    ttl: int | None = None


@dataclass(frozen=True)
class StripeDetails(GatewayDetails):
    gateway: ClassVar[str] = "stripe"
    creator_fields: ClassVar[frozenset[str] | None] = frozenset(
        {
            "mode",
            "items",
            "success_url",
            "cancel_url",
            "customer_id",
            "customer_email",
            "trial_period_days",
            "description",
        }
    )
    mode: str | None = None
    session_id: str | None = None
    subscription_id: str | None = None
    customer_id: str | None = None
    customer_email: str | None = None
    invoice_id: str | None = None
    payment_intent_id: str | None = None
    items: list[Any] | None = None
    trial_period_days: int | None = None
    success_url: str | None = None
    cancel_url: str | None = None
    url: str | None = None
    description: str | None = None
    charge_id: str | None = None
    payment_status: str | None = None
    amount_total: int | None = None
    billing_reason: str | None = None
    parent_transaction_id: str | None = None
    subscription_status: str | None = None
    stripe_event_created: int | None = None
    subscription_event_created: int | None = None
    error_note: str | None = None
    cancel_reason: str | None = None


@dataclass(frozen=True)
class CashDetails(GatewayDetails):
    gateway: ClassVar[str] = "cash"
    open_ended: ClassVar[bool] = True
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IntegratorDetails(GatewayDetails):
    gateway: ClassVar[str] = "integrator"
    open_ended: ClassVar[bool] = True
    creator_fields: ClassVar[frozenset[str] | None] = frozenset({"data"})
    data: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_note: str | None = None


DETAILS_TYPES: dict[str, type[GatewayDetails]] = {
    cls.gateway: cls for cls in (ClickDetails, PaymeDetails, OctoDetails, StripeDetails, CashDetails, IntegratorDetails)
}

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


def parse_details(gateway: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Check `raw` against the gateway's details type and return it as stored JSON."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidDetails("details must be a JSON object")
    cls = DETAILS_TYPES.get(gateway)
    if cls is None:
        return dict(raw)
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
