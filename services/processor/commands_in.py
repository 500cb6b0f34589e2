"""Broker messages to domain commands: the subscriber's only translation."""

from __future__ import annotations

from shared.domain import commands
from shared.messages import (
    CancelTransactionMessage,
    CompleteTransactionMessage,
    CreateTransactionMessage,
    DeleteTransactionMessage,
)


def create(message: CreateTransactionMessage) -> commands.CreateTransaction:
    return commands.CreateTransaction(
        command_id=message.command_id,
        tenant_id=message.tenant_id,
        actor=message.actor,
        transaction_id=message.resolved_transaction_id(),
        gateway=message.gateway,
        account_id=message.account_id,
        amount=message.amount,
        currency=message.currency,
        details=message.details,
        metadata=message.metadata,
        requested_at=message.requested_at,
    )


def complete(message: CompleteTransactionMessage) -> commands.CompleteTransaction:
    return commands.CompleteTransaction(
        message.command_id, message.tenant_id, message.actor, message.transaction_id, message.amount
    )


def cancel(message: CancelTransactionMessage) -> commands.CancelTransaction:
    return commands.CancelTransaction(
        message.command_id, message.tenant_id, message.actor, message.transaction_id, message.reason
    )


def delete(message: DeleteTransactionMessage) -> commands.DeleteTransaction:
    return commands.DeleteTransaction(message.command_id, message.tenant_id, message.actor, message.transaction_id)
