"""Which answer a Prepare or Complete deserves, in gateways.md's order (-5, -6, -4, -2, -9): pure, no I/O."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shared.domain.errors import InvalidAmount
from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.click.shop import ClickError, Operation, ShopCall

CLICK_CURRENCY = "UZS"


def verdict(call: ShopCall, tx: Transaction | None, now: datetime) -> ClickError:
    """The code for `call` against the order it names (`tx`, locked by the caller); SUCCESS when it may proceed."""
    if tx is None:
        return ClickError.ORDER_NOT_FOUND
    if call.operation is Operation.COMPLETE and not is_current_attempt(tx, call):
        return ClickError.TRANSACTION_NOT_FOUND
    state = _state_refusal(tx)
    if state is ClickError.ALREADY_PAID:
        return state
    if not amount_matches(tx, call.amount):
        return ClickError.INCORRECT_AMOUNT
    if state is not None:
        return state
    if call.operation is Operation.PREPARE and tx.is_expired(now):
        # An overdue order is not started; a Complete of an attempt prepared in time still lands (the scheduler
        # may not have expired the order yet, and the payer was already debited).
        return ClickError.TRANSACTION_CANCELLED
    return ClickError.SUCCESS


def is_current_attempt(tx: Transaction, call: ShopCall) -> bool:
    """Complete must name the attempt our last successful Prepare recorded: its prepare id and Click's id."""
    return (
        tx.details.get("merchant_prepare_id") == call.merchant_prepare_id
        and tx.details.get("click_trans_id") == call.click_trans_id
    )


def is_repeated_prepare(tx: Transaction, call: ShopCall) -> bool:
    """The same Click attempt asking again: it gets the prepare id it was given, nothing is recorded twice."""
    return tx.details.get("click_trans_id") == call.click_trans_id and tx.details.get("merchant_prepare_id") is not None


def amount_matches(tx: Transaction, amount: Decimal) -> bool:
    """Exact comparison in minor units; Click pays in sum only, so an order in another currency never matches."""
    if tx.currency != CLICK_CURRENCY:
        return False
    try:
        return Money.from_major(amount, CLICK_CURRENCY).minor == tx.amount
    except InvalidAmount:  # more decimals than the tiyin allows
        return False


def _state_refusal(tx: Transaction) -> ClickError | None:
    if tx.deleted_at is not None:  # only never-paid orders can be deleted, and deletion cancels them
        return ClickError.TRANSACTION_CANCELLED
    match tx.status:
        case TransactionStatus.PENDING:
            return None
        case TransactionStatus.COMPLETED | TransactionStatus.PARTIALLY_REFUNDED | TransactionStatus.REFUNDED:
            return ClickError.ALREADY_PAID
        case TransactionStatus.FAILED | TransactionStatus.CANCELED | TransactionStatus.EXPIRED:
            return ClickError.TRANSACTION_CANCELLED
