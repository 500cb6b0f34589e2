"""Broker messages to domain commands: the subscriber's only translation."""

from __future__ import annotations

from shared.domain import commands
from shared.messages import (
    CancelTransactionMessage,
    CompleteTransactionMessage,
    CreateTransactionMessage,
    DeleteTransactionMessage,
)


def create(m: CreateTransactionMessage) -> commands.CreateTransaction:
    return commands.CreateTransaction(
        command_id=m.command_id,
        tenant_id=m.tenant_id,
        actor=m.actor,
        transaction_id=m.resolved_transaction_id(),
        gateway=m.gateway,
        account_id=m.account_id,
        amount=m.amount,
        currency=m.currency,
        details=m.details,
        metadata=m.metadata,
        requested_at=m.requested_at,
    )


def complete(m: CompleteTransactionMessage) -> commands.CompleteTransaction:
    return commands.CompleteTransaction(m.command_id, m.tenant_id, m.actor, m.transaction_id, m.amount)


def cancel(m: CancelTransactionMessage) -> commands.CancelTransaction:
    return commands.CancelTransaction(m.command_id, m.tenant_id, m.actor, m.transaction_id, m.reason)


def delete(m: DeleteTransactionMessage) -> commands.DeleteTransaction:
    return commands.DeleteTransaction(m.command_id, m.tenant_id, m.actor, m.transaction_id)
