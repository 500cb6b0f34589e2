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
        reporting=row["reporting"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


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


def transaction_view(row: Any) -> dict[str, Any]:
    """A row as the API and the console show a transaction."""
    return transaction_from_row(row).view()
