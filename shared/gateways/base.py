"""The one Protocol every gateway adapter implements, and the values crossing it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeGuard, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.urls import resolve_provider_urls, url_fields
from shared.security.egress import UnsafeDestination


class InvalidGatewayConfig(Exception):
    """A gateway account's configuration is missing a key or has a bad value."""


class SecretsRequired(InvalidGatewayConfig):
    """A change of an account's URLs that does not send the account's secrets again."""

    def __init__(self, gateway: str, changed: list[str], required: list[str]) -> None:
        super().__init__(
            f"{gateway} config: changing {', '.join(changed)} requires the account's secrets again "
            f"in the same request: {', '.join(required)}"
        )
        self.changed = changed
        self.required = required


class ProviderUnavailable(Exception):
    """The provider did not answer usefully (timeout, 5xx, 429): worth retrying later."""


class ProviderRejected(Exception):
    """The provider refused the request for good (4xx): retrying will not help.

    The message is for operators' logs and may quote the provider's answer; `note` is what a tenant is shown
    (our own words, a status and a code, never the answer's text: the provider's host may be anyone's).
    """

    def __init__(self, message: str, note: str | None = None) -> None:
        super().__init__(message)
        self.note = note or message


SAFE_CODE = re.compile(r"-?[A-Za-z0-9_.]{1,64}")


def answer_code(value: object) -> str | None:
    """A provider's error code as it may be shown to a tenant: a short token, never free text."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text if SAFE_CODE.fullmatch(text) else None


class AccountConfig(BaseModel):
    """Keys every gateway account may carry; each adapter extends it."""

    model_config = ConfigDict(extra="forbid")
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    expiry_seconds: int | None = Field(default=None, ge=1, le=90 * 24 * 3600)


@dataclass(frozen=True, slots=True)
class GatewayAccount:
    id: uuid.UUID
    tenant_id: uuid.UUID
    gateway: str
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PaymentStart:
    payment_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    succeeded: bool
    provider_refund_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    status: TransactionStatus | None
    details: dict[str, Any] = field(default_factory=dict)
    captured: int | None = None
    """For a completed two-stage payment: what was captured, when less than the authorised amount."""


def apply_provider_status(tx: Transaction, reported: ProviderStatus, now: datetime) -> None:
    """Move a pending transaction to what the provider reports; an unknown or equal status changes nothing."""
    match reported.status:
        case TransactionStatus.COMPLETED:
            tx.complete(now, reported.details, captured=reported.captured)
        case TransactionStatus.FAILED:
            tx.fail(now, reported.details)
        case TransactionStatus.CANCELED:
            tx.cancel(now, details=reported.details)
        case TransactionStatus.EXPIRED:
            tx.expire(now, reported.details)
        case None | TransactionStatus.PENDING | TransactionStatus.PARTIALLY_REFUNDED | TransactionStatus.REFUNDED:
            tx.update(now, details=reported.details)


@runtime_checkable
class GatewayAdapter(Protocol):
    name: str
    config_model: type[AccountConfig]
    manual_completion: bool
    """The `complete` command applies (a person or a callback settles it); others are completed by their provider."""
    starts_with_provider_call: bool
    """Creating a payment calls the provider after the pending row is committed (it returns the payment link)."""
    polls_provider: bool
    """The janitor may ask the provider (`status`) about payments left pending here, e.g. after a lost webhook."""

    def webhook_paths(self, account_id: uuid.UUID) -> dict[str, str]: ...

    def payment_link(
        self, account: GatewayAccount, transaction_id: uuid.UUID, money: Money, details: dict[str, Any]
    ) -> str | None:
        """A link the service can build itself (Payme, Click); provider links come from start_payment."""
        ...

    async def start_payment(self, account: GatewayAccount, tx: Transaction) -> PaymentStart: ...

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome: ...

    async def status(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus: ...

    def on_expiry(self, tx: Transaction, at: datetime) -> dict[str, Any]:
        """Details to record when the scheduler expires a pending payment (Payme: state -1, reason 4)."""
        ...


def check_config(adapter: GatewayAdapter, raw: object) -> dict[str, Any]:
    """Validate an account config for `adapter` as it is configured, returning it with defaults filled in.

    Beyond the model, the hosts of the URLs the service will call are resolved: each address must be public.
    """
    if not isinstance(raw, dict):
        raise InvalidGatewayConfig("config must be a JSON object")
    try:
        model = adapter.config_model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidGatewayConfig(f"{adapter.name} config {where}: {message}") from None
    config = model.model_dump(mode="json")
    try:
        resolve_provider_urls(adapter.config_model, config)
    except UnsafeDestination as exc:
        raise InvalidGatewayConfig(f"{adapter.name} config {exc}") from None
    return config


def require_secrets_for_new_urls(
    adapter: GatewayAdapter, current: Mapping[str, Any], changes: Mapping[str, Any], updated: Mapping[str, Any]
) -> None:
    """A change of any URL must carry the account's secrets again: stored ones never go to a host they did not.

    Otherwise anyone allowed to edit the account could point it at their own host and receive the secrets.
    """
    changed = [name for name in url_fields(adapter.config_model) if current.get(name) != updated.get(name)]
    if not changed:
        return
    stored = sorted(name for name in adapter.config_model.secret_fields if current.get(name) is not None)
    missing = [name for name in stored if name not in changes]
    if missing:
        raise SecretsRequired(adapter.name, changed, missing)


def split_secrets(adapter: GatewayAdapter, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public part, secret part) of a checked config; secrets are stored encrypted and never shown."""
    secret_names = adapter.config_model.secret_fields
    public = {k: v for k, v in config.items() if k not in secret_names}
    secret = {k: v for k, v in config.items() if k in secret_names and v is not None}  # unset: not stored
    return public, secret


@runtime_checkable
class HoldsPayments(Protocol):
    """Optional: the provider holds an authorised payment until we capture or release it (Octo two-stage).

    `complete` captures such a payment and `cancel` releases it: the decision is recorded first, then sent with
    `send_decision` outside any database transaction, then its outcome is recorded (design.md, provider calls).
    """

    def awaits_decision(self, status: TransactionStatus, details: Mapping[str, Any]) -> bool:
        """The provider holds the money and nobody has decided yet."""
        ...

    def decide(self, tx: Transaction, capture: bool, amount: int | None) -> dict[str, Any]:
        """Details recording our decision (empty: nothing is held); raises a DomainError when it cannot be made."""
        ...

    def decision_unsent(self, tx: Transaction) -> bool:
        """A recorded decision the provider has not been told yet (e.g. the worker died before the call)."""
        ...

    async def send_decision(self, account: GatewayAccount, tx: Transaction) -> ProviderStatus:
        """Tell the provider; the answer says where the payment now stands."""
        ...


_HOLDS_PAYMENTS: dict[type, bool] = {}


def holds_payments(adapter: object) -> TypeGuard[HoldsPayments]:
    """`isinstance(adapter, HoldsPayments)`, remembered per adapter class: a runtime Protocol check walks the
    Protocol's members each time, and `complete` asks it of every payment."""
    kind = type(adapter)
    known = _HOLDS_PAYMENTS.get(kind)
    if known is None:
        known = _HOLDS_PAYMENTS[kind] = isinstance(adapter, HoldsPayments)
    return known
