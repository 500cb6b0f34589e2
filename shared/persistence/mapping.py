"""Rows to aggregates and back; the domain knows nothing of this."""

from __future__ import annotations

from typing import Any

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus, TransactionStatus
from shared.domain.transaction import Transaction


def transaction_from_row(row: Any) -> Transaction:
    """From a row by column name: SQLAlchemy's RowMapping or asyncpg's Record."""
    return Transaction(
        id=row["id"],
        tenant_id=row["tenant_id"],
        account_id=row["account_id"],
        gateway=row["gateway"],
        status=TransactionStatus(row["status"]),
        money=Money.of(row["amount"], row["currency"]),
        refunded_amount=row["refunded_amount"],
        details=dict(row["details"]),
        metadata=dict(row["metadata"]),
        payment_url=row["payment_url"],
        expires_at=row["expires_at"],
        deleted_at=row["deleted_at"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def transaction_values(tx: Transaction) -> dict[str, Any]:
    return {
        "id": tx.id,
        "tenant_id": tx.tenant_id,
        "account_id": tx.account_id,
        "gateway": tx.gateway,
        "status": tx.status.value,
        "amount": tx.amount,
        "refunded_amount": tx.refunded_amount,
        "currency": tx.currency,
        "details": tx.details,
        "metadata": tx.metadata,
        "payment_url": tx.payment_url,
        "expires_at": tx.expires_at,
        "deleted_at": tx.deleted_at,
        "created_at": tx.created_at,
        "updated_at": tx.updated_at,
    }


def refund_from_row(row: Any) -> Refund:
    return Refund(
        id=row["id"],
        tenant_id=row["tenant_id"],
        transaction_id=row["transaction_id"],
        amount=row["amount"],
        status=RefundStatus(row["status"]),
        reason=row["reason"],
        error=row["error"],
        provider_refund_id=row["provider_refund_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def refund_values(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "tenant_id": refund.tenant_id,
        "transaction_id": refund.transaction_id,
        "amount": refund.amount,
        "status": refund.status.value,
        "reason": refund.reason,
        "error": refund.error,
        "provider_refund_id": refund.provider_refund_id,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
    }
