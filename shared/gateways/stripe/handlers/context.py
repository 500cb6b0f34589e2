"""What every Stripe event handler works with: one unit of work, the account the event came to, and the event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.domain.transaction import Transaction
from shared.gateways.stripe.facts import StripeEvent
from shared.persistence.port import UnitOfWorkPort


@dataclass(frozen=True)
class StripeEventContext:
    uow: UnitOfWorkPort
    tenant_id: uuid.UUID
    account_id: uuid.UUID
    event: StripeEvent
    now: datetime

    @property
    def happened_at(self) -> datetime:
        """When Stripe says the event happened (not when it reached us)."""
        return datetime.fromtimestamp(self.event.created, UTC)

    def is_newer(self, tx: Transaction, stamp_field: str) -> bool:
        """The event is not older than the last one whose facts the transaction recorded under `stamp_field`."""
        recorded = tx.details.get(stamp_field)
        return not isinstance(recorded, int) or self.event.created >= recorded

    async def ours(self, transaction_id: uuid.UUID | None) -> Transaction | None:
        """Our Stripe transaction of this account with that id; ids Stripe carries back are checked, not trusted."""
        if transaction_id is None:
            return None
        tx = await self.uow.transactions(self.tenant_id).get(transaction_id)
        if tx is None or tx.account_id != self.account_id or tx.gateway != "stripe":
            return None
        return tx

    async def by_detail(self, name: str, value: str | None) -> Transaction | None:
        """This account's transaction that recorded Stripe's id `value` under details.`name`."""
        if not value:
            return None
        return await self.uow.transactions(self.tenant_id).find_by_detail(self.account_id, (name,), value)

    async def subscription_origin(self, transaction_id: uuid.UUID | None, subscription_id: str) -> Transaction | None:
        """The checkout transaction that started a subscription (renewals point back to it)."""
        tx = await self.ours(transaction_id) or await self.by_detail("subscription_id", subscription_id)
        parent = tx.details.get("parent_transaction_id") if tx is not None else None
        if isinstance(parent, str):
            return await self.ours(uuid.UUID(parent))
        return tx
