"""Click's settlement registry: amounts in sum with decimals, Click's status words."""

from __future__ import annotations

from shared.domain.status import TransactionStatus
from shared.reconciliation.files import ColumnMapping, SettlementFile

SETTLEMENT_FILE = SettlementFile(
    columns=ColumnMapping(
        reference="click_trans_id",
        merchant_reference="merchant_trans_id",
        amount="amount",
        status="status",
        amount_in_major_units=True,
        statuses={
            "success": TransactionStatus.COMPLETED,
            "paid": TransactionStatus.COMPLETED,
            "cancelled": TransactionStatus.CANCELED,
            "canceled": TransactionStatus.CANCELED,
            "error": TransactionStatus.FAILED,
            "reversed": TransactionStatus.REFUNDED,
        },
    ),
    currency="UZS",
)
