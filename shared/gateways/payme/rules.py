"""Payme's pure decisions: may an order take this payment, and what a cancel or a timeout does to it. No I/O."""

from __future__ import annotations

from datetime import datetime

from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.payme import records
from shared.gateways.payme.config import CURRENCY, PaymeConfig
from shared.gateways.payme.errors import Fault, PaymeError


def admit(order: Transaction, amount: int, config: PaymeConfig) -> bool:
    """Refuse a payment the order cannot take; True when it is a repeat payment (accounts with one_time false)."""
    field = config.account_field
    if order.currency != CURRENCY:
        raise PaymeError(Fault.ORDER_CLOSED, field)
    if amount != order.amount:
        raise PaymeError(Fault.WRONG_AMOUNT, "amount")
    busy = records.has_payme_transaction(order)
    match order.status:
        case TransactionStatus.PENDING:
            if busy and config.one_time:
                raise PaymeError(Fault.ORDER_BUSY, field)
            return busy
        case TransactionStatus.COMPLETED | TransactionStatus.PARTIALLY_REFUNDED | TransactionStatus.REFUNDED:
            if config.one_time:
                raise PaymeError(Fault.ORDER_PAID, field)
            return True
        case TransactionStatus.CANCELED | TransactionStatus.EXPIRED | TransactionStatus.FAILED:
            # Closed by its creator: never payable. Closed by Payme's side: a cumulative account may pay again.
            if config.one_time or not busy:
                raise PaymeError(Fault.ORDER_CLOSED, field)
            return True


def cancel(tx: Transaction, now: datetime, now_ms: int, reason: int) -> None:
    """Payme cancels a created transaction: ours is canceled, or only notes Payme's side when already closed."""
    facts = records.canceled(now_ms, records.CANCELED, reason)
    if tx.can_move_to(TransactionStatus.CANCELED):
        tx.cancel(now, details=facts)
    else:
        tx.update(now, details=facts)  # already closed here (e.g. by its creator): record Payme's side too


def expire(tx: Transaction, now: datetime, now_ms: int, reason: int) -> None:
    """A created transaction timed out (ours or Payme's timeout): expired, or only noted when already closed."""
    facts = records.canceled(now_ms, records.CANCELED, reason)
    if tx.can_move_to(TransactionStatus.EXPIRED):
        tx.expire(now, facts)
    else:
        tx.update(now, details=facts)
