"""What an operator does to a transaction: the same checks and the same broker commands as the command API."""

from __future__ import annotations

import uuid
from typing import Any

from services.ingress.context import Ingress
from shared.clock import utc_now
from shared.domain.status import TransactionStatus
from shared.gateways.base import holds_payments
from shared.i18n import N_
from shared.messages import CancelTransactionMessage, CompleteTransactionMessage, RequestRefundMessage
from shared.persistence.operators import Operator
from shared.persistence.queries import TenantReads


class Refused(Exception):
    """The action cannot be taken; `message` is a catalog msgid shown to the operator, nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def can_complete(ctx: Ingress, tx: dict[str, Any]) -> bool:
    adapter = ctx.registry.get(tx["gateway"])
    status = TransactionStatus(tx["status"])
    held = holds_payments(adapter) and adapter.awaits_decision(status, tx["details"])
    return status is TransactionStatus.PENDING and (adapter.manual_completion or held)


def refund_refusal(ctx: Ingress, tx: dict[str, Any]) -> str | None:
    """Why no refund can be asked for at all (a capabilities note in English), else None."""
    if not TransactionStatus(tx["status"]).is_refundable():
        return N_("This transaction's status does not allow a refund.")
    capabilities = ctx.registry.manifest(tx["gateway"]).capabilities
    if not capabilities.refunds:
        return N_("This gateway takes no refunds here.")
    return None


async def refundable_remainder(ctx: Ingress, operator: Operator, tx: dict[str, Any]) -> int:
    in_flight = await TenantReads(ctx.engine, operator.tenant_id).in_flight_refunds(uuid.UUID(tx["id"]))
    return int(tx["amount"] - tx["refunded_amount"] - in_flight)


async def complete(ctx: Ingress, operator: Operator, tx: dict[str, Any]) -> None:
    if not can_complete(ctx, tx):
        raise Refused(N_("This transaction cannot be completed."))
    transaction_id = uuid.UUID(tx["id"])
    command_id = f"complete:{transaction_id}"
    message = CompleteTransactionMessage(
        command_id=command_id, tenant_id=operator.tenant_id, actor=operator.actor, transaction_id=transaction_id
    )
    await ctx.send(message, command_id)


async def cancel(ctx: Ingress, operator: Operator, tx: dict[str, Any], reason: str | None) -> None:
    if tx["status"] != TransactionStatus.PENDING.value:
        raise Refused(N_("Only a pending transaction can be canceled."))
    transaction_id = uuid.UUID(tx["id"])
    command_id = f"cancel:{transaction_id}"
    message = CancelTransactionMessage(
        command_id=command_id,
        tenant_id=operator.tenant_id,
        actor=operator.actor,
        transaction_id=transaction_id,
        reason=(reason or "")[:500] or None,
    )
    await ctx.send(message, command_id)


async def check_refund(ctx: Ingress, operator: Operator, tx: dict[str, Any], amount: int | None) -> int:
    """The refund's amount in minor units (None = the whole remainder), refused as the API refuses it."""
    refusal = refund_refusal(ctx, tx)
    if refusal:
        raise Refused(refusal)
    available = await refundable_remainder(ctx, operator, tx)
    amount = available if amount is None else amount
    capabilities = ctx.registry.manifest(tx["gateway"]).capabilities
    if capabilities.refund_refusal(amount, tx["amount"], tx["refunded_amount"]):
        raise Refused(N_("This gateway refunds only the whole amount."))
    if amount <= 0 or amount > available:
        raise Refused(N_("The amount exceeds what can still be refunded."))
    return amount


async def refund(
    ctx: Ingress, operator: Operator, tx: dict[str, Any], amount: int, reason: str | None, refund_id: uuid.UUID
) -> None:
    """Ask for the refund; the confirmation page's `refund_id` makes a repeated submit the same command."""
    amount = await check_refund(ctx, operator, tx, amount)
    message = RequestRefundMessage(
        command_id=f"refund:{refund_id}",
        tenant_id=operator.tenant_id,
        actor=operator.actor,
        transaction_id=uuid.UUID(tx["id"]),
        refund_id=refund_id,
        amount=amount,
        reason=(reason or "")[:500] or None,
        requested_at=utc_now(),
    )
    await ctx.send(message, message.command_id)
