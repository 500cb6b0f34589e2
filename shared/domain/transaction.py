"""The Transaction aggregate: one payment's whole life, guarded by the state machine."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.errors import InvalidAmount, RefundExceedsRemainder, TransitionNotAllowed
from shared.domain.events import DomainEvent, EventType
from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus, TransactionStatus, can_transition

_EVENT_FOR_STATUS: dict[TransactionStatus, EventType] = {
    TransactionStatus.PENDING: EventType.TRANSACTION_CREATED,
    TransactionStatus.COMPLETED: EventType.TRANSACTION_COMPLETED,
    TransactionStatus.FAILED: EventType.TRANSACTION_FAILED,
    TransactionStatus.CANCELED: EventType.TRANSACTION_CANCELED,
    TransactionStatus.EXPIRED: EventType.TRANSACTION_EXPIRED,
    TransactionStatus.PARTIALLY_REFUNDED: EventType.TRANSACTION_PARTIALLY_REFUNDED,
    TransactionStatus.REFUNDED: EventType.TRANSACTION_REFUNDED,
}


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded change: the event it yields and the views before and after (for the audit trail)."""

    action: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    event: DomainEvent


@dataclass
class Transaction:
    id: uuid.UUID
    tenant_id: uuid.UUID
    account_id: uuid.UUID
    gateway: str
    status: TransactionStatus
    money: Money
    refunded_amount: int
    details: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    payment_url: str | None = None
    expires_at: datetime | None = None
    deleted_at: datetime | None = None
    reporting: dict[str, Any] | None = None
    """The amount in the tenant's reporting currency as of the last change (see `report_in`)."""
    version: int = 0
    changes: list[Change] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def open(
        cls,
        *,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        account_id: uuid.UUID,
        gateway: str,
        money: Money,
        details: dict[str, Any],
        metadata: dict[str, Any],
        at: datetime,
        payment_url: str | None = None,
        expires_at: datetime | None = None,
    ) -> Transaction:
        tx = cls.pending(
            id=id,
            tenant_id=tenant_id,
            account_id=account_id,
            gateway=gateway,
            money=money,
            details=details,
            metadata=metadata,
            at=at,
            payment_url=payment_url,
            expires_at=expires_at,
        )
        tx._record("create", None, EventType.TRANSACTION_CREATED)
        return tx

    @classmethod
    def pending(
        cls,
        *,
        id: uuid.UUID,
        tenant_id: uuid.UUID,
        account_id: uuid.UUID,
        gateway: str,
        money: Money,
        details: dict[str, Any],
        metadata: dict[str, Any],
        at: datetime,
        payment_url: str | None = None,
        expires_at: datetime | None = None,
    ) -> Transaction:
        """The transaction as `open` makes it, its creation not recorded (what the ingress answers before it exists)."""
        if money.minor <= 0:
            raise InvalidAmount("amount must be greater than zero")
        return cls(
            id=id,
            tenant_id=tenant_id,
            account_id=account_id,
            gateway=gateway,
            status=TransactionStatus.PENDING,
            money=money,
            refunded_amount=0,
            details=dict(details),
            metadata=dict(metadata),
            created_at=at,
            updated_at=at,
            payment_url=payment_url,
            expires_at=expires_at,
        )

    @property
    def amount(self) -> int:
        return self.money.minor

    @property
    def currency(self) -> str:
        return self.money.currency.code

    @property
    def remainder(self) -> int:
        return self.amount - self.refunded_amount

    def view(self) -> dict[str, Any]:
        """The transaction as the API and the events show it."""
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "account_id": str(self.account_id),
            "gateway": self.gateway,
            "status": self.status.value,
            "amount": self.amount,
            "refunded_amount": self.refunded_amount,
            "currency": self.currency,
            "reporting": self.reporting,
            "details": self.details,
            "metadata": self.metadata,
            "payment_url": self.payment_url,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        }

    def report_in(self, conversion: dict[str, Any] | None) -> None:
        """Book the changes not yet committed in the reporting currency: they all show this conversion.

        Computed once, when the change is committed, and stored: a rate corrected later never moves it.
        """
        self.reporting = conversion
        for change in self.changes:
            change.after["reporting"] = conversion  # the event's data is this same dict

    def can_move_to(self, target: TransactionStatus) -> bool:
        return self.deleted_at is None and can_transition(self.status, target)

    def may_be_deleted(self) -> bool:
        """Only a transaction that was never paid may be deleted (a pending one is canceled first)."""
        return self.deleted_at is None and not self.status.was_paid()

    def may_be_refunded(self) -> bool:
        return self.deleted_at is None and self.status.is_refundable()

    def refundable(self, in_flight: int) -> int:
        """What a new refund may still take: the remainder less what requested refunds hold back (may be < 0)."""
        return self.remainder - in_flight

    def complete(self, at: datetime, details: dict[str, Any] | None = None, captured: int | None = None) -> None:
        """Paid; `captured` is what a two-stage payment actually took when less than the authorised amount."""
        if captured is None or captured == self.amount:
            self._move(TransactionStatus.COMPLETED, at, "complete", details)
            return
        if isinstance(captured, bool) or not 0 < captured < self.amount:
            raise InvalidAmount(f"a capture of {captured} is outside 1..{self.amount}")
        details = {**(details or {}), "authorized_amount": self.amount}
        self._move(TransactionStatus.COMPLETED, at, "complete", details, Money(captured, self.money.currency))

    def fail(self, at: datetime, details: dict[str, Any] | None = None) -> None:
        self._move(TransactionStatus.FAILED, at, "fail", details)

    def cancel(self, at: datetime, reason: str | None = None, details: dict[str, Any] | None = None) -> None:
        extra = dict(details or {})
        if reason:
            extra["cancel_reason"] = reason
        self._move(TransactionStatus.CANCELED, at, "cancel", extra)

    def expire(self, at: datetime, details: dict[str, Any] | None = None) -> None:
        self._move(TransactionStatus.EXPIRED, at, "expire", details)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def update(self, at: datetime, details: dict[str, Any] | None = None, payment_url: str | None = None) -> None:
        """Record provider facts (ids, links, card data) without changing the status."""
        before = self.view()
        changed = False
        if details and any(self.details.get(k) != v for k, v in details.items()):
            self.details = {**self.details, **details}
            changed = True
        if payment_url is not None and payment_url != self.payment_url:
            self.payment_url = payment_url
            changed = True
        if changed:
            self.updated_at = at
            self._record("update", before, EventType.TRANSACTION_UPDATED)

    def note_subscription(
        self, kind: EventType, subscription: dict[str, Any], at: datetime, details: dict[str, Any] | None = None
    ) -> None:
        """Record a subscription fact on the transaction that started the subscription; its status is untouched."""
        if not kind.value.startswith("subscription."):
            raise ValueError(f"{kind.value} is not a subscription event")
        before = self.view()
        if details:
            self.details = {**self.details, **details}
        self.updated_at = max(self.updated_at, at)
        after = {**self.view(), "subscription": dict(subscription)}
        event = DomainEvent(type=kind, tenant_id=self.tenant_id, subject=self.id, data=after)
        self.changes.append(Change(action=kind.value, before=before, after=after, event=event))

    def delete(self, at: datetime) -> None:
        """Soft-delete a never-paid transaction; a pending one is canceled first."""
        if not self.may_be_deleted():
            raise TransitionNotAllowed(f"a {self.status.value} transaction cannot be deleted")
        if self.status is TransactionStatus.PENDING:
            self.cancel(at, reason="deleted")
        before = self.view()
        self.deleted_at = at
        self.updated_at = at
        self._record("delete", before, EventType.TRANSACTION_DELETED)

    def request_refund(
        self,
        *,
        refund_id: uuid.UUID,
        amount: int | None,
        reason: str | None,
        in_flight: int,
        at: datetime,
    ) -> Refund:
        """Open a refund; `in_flight` is what requested-but-unsettled refunds already hold back."""
        if not self.may_be_refunded():
            raise TransitionNotAllowed(f"a {self.status.value} transaction cannot be refunded")
        available = self.refundable(in_flight)
        wanted = available if amount is None else amount
        if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted <= 0:
            if amount is None:
                raise RefundExceedsRemainder("nothing is left to refund")
            raise InvalidAmount("refund amount must be a positive integer in the currency's minor unit")
        if wanted > available:
            raise RefundExceedsRemainder(f"refund of {wanted} exceeds the refundable remainder {max(available, 0)}")
        refund = Refund(
            id=refund_id,
            tenant_id=self.tenant_id,
            transaction_id=self.id,
            amount=wanted,
            status=RefundStatus.REQUESTED,
            reason=reason,
            error=None,
            created_at=at,
            updated_at=at,
        )
        self._record("refund.request", self.view(), EventType.REFUND_REQUESTED, refund)
        return refund

    def reject_refund(
        self, *, refund_id: uuid.UUID, amount: int, reason: str | None, error: str, at: datetime
    ) -> Refund:
        """Keep a refund that could not even be opened (e.g. it lost the race for the remainder), as failed."""
        refund = Refund(
            id=refund_id,
            tenant_id=self.tenant_id,
            transaction_id=self.id,
            amount=amount,
            status=RefundStatus.FAILED,
            reason=reason,
            error=error,
            created_at=at,
            updated_at=at,
        )
        self._record("refund.reject", self.view(), EventType.REFUND_FAILED, refund)
        return refund

    def settle_refund(self, refund: Refund, at: datetime, provider_refund_id: str | None = None) -> None:
        if refund.status is not RefundStatus.REQUESTED:
            raise TransitionNotAllowed(f"refund {refund.id} is already {refund.status.value}")
        if self.refunded_amount + refund.amount > self.amount:
            raise RefundExceedsRemainder("refunds would exceed the amount paid")
        target = (
            TransactionStatus.REFUNDED
            if self.refunded_amount + refund.amount == self.amount
            else TransactionStatus.PARTIALLY_REFUNDED
        )
        if not can_transition(self.status, target):
            raise TransitionNotAllowed(f"a {self.status.value} transaction cannot be refunded")
        refund.succeed(at, provider_refund_id)
        before = self.view()
        self.refunded_amount += refund.amount
        self.status = target
        self.updated_at = at
        self._record("refund.succeed", before, EventType.REFUND_SUCCEEDED, refund)
        self._record("refund.apply", before, _EVENT_FOR_STATUS[target], refund)

    def fail_refund(self, refund: Refund, error: str, at: datetime) -> None:
        if refund.status is not RefundStatus.REQUESTED:
            raise TransitionNotAllowed(f"refund {refund.id} is already {refund.status.value}")
        refund.fail(error, at)
        self._record("refund.fail", self.view(), EventType.REFUND_FAILED, refund)

    def _move(
        self,
        target: TransactionStatus,
        at: datetime,
        action: str,
        details: dict[str, Any] | None,
        money: Money | None = None,
    ) -> None:
        if not self.can_move_to(target):
            raise TransitionNotAllowed(f"cannot move a {self.status.value} transaction to {target.value}")
        before = self.view()
        self.status = target
        if money is not None:
            self.money = money
        if details:
            self.details = {**self.details, **details}
        self.updated_at = at
        self._record(action, before, _EVENT_FOR_STATUS[target])

    def _record(
        self, action: str, before: dict[str, Any] | None, kind: EventType, refund: Refund | None = None
    ) -> None:
        after = self.view()
        data = after if refund is None else {**after, "refund": refund.view()}
        event = DomainEvent(type=kind, tenant_id=self.tenant_id, subject=self.id, data=data)
        self.changes.append(Change(action=action, before=before, after=data, event=event))
