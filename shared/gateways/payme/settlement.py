"""Payme's settlement registry: amounts in tiyin, Payme's transaction states."""

from __future__ import annotations

from shared.domain.status import TransactionStatus
from shared.reconciliation.files import ColumnMapping, SettlementFile

SETTLEMENT_FILE = SettlementFile(
    columns=ColumnMapping(
        reference="payme_id",
        merchant_reference="order_id",
        amount="amount",
        status="state",
        statuses={
            "1": TransactionStatus.PENDING,
            "2": TransactionStatus.COMPLETED,
            "-1": TransactionStatus.CANCELED,
            "-2": TransactionStatus.REFUNDED,
        },
    ),
    currency="UZS",
)
