"""Click as a reconciliation source: the Merchant API payment status for each of our payments that reached Click.

Click has no statement call we use, so a run asks `payment/status` about every transaction of the account and
period that has a Click payment id, a few at a time (`shared.reconciliation.per_payment`). A payment Click does not
know (a non-zero `error_code`) gives no record: the engine then reports it `missing_there` if we hold it as paid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal
from typing import Any

from shared.domain.errors import DomainError
from shared.domain.money import Money
from shared.domain.reconciliation import ProviderRecord
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import ProviderUnavailable
from shared.gateways.click.adapter import PAYMENT_IN_PROGRESS, PAYMENT_SUCCESSFUL, merchant_trans_id, payment_id_of
from shared.gateways.click.merchant_api import MerchantAnswer
from shared.gateways.click.rules import CLICK_CURRENCY
from shared.reconciliation.per_payment import CONCURRENCY, ask_each
from shared.reconciliation.sources import Ledger

REFERENCE_PATHS: tuple[tuple[str, ...], tuple[str, ...]] = (("click_trans_id",), ("merchant_trans_id",))
"""Where details keep Click's id (a registry's `click_trans_id`) and our order reference (`merchant_trans_id`)."""

PaymentStatus = Callable[[int], Coroutine[Any, Any, MerchantAnswer]]


def status_of(payment_status: int | None, tx: Transaction) -> TransactionStatus | None:
    """Click's `payment_status` in our statuses, as the janitor reads it; None for a code this code does not know.

    Click reports a failed debit and a reversed payment alike, with a negative status. We reverse only whole
    payments, and a transaction we hold as `refunded` was reversed by us: for it a negative status is that
    reversal. Any other negative status is a payment Click does not count as paid.
    """
    if payment_status is None:
        return None
    if payment_status == PAYMENT_SUCCESSFUL:
        return TransactionStatus.COMPLETED
    if payment_status < 0:
        return TransactionStatus.REFUNDED if tx.status is TransactionStatus.REFUNDED else TransactionStatus.FAILED
    if payment_status in PAYMENT_IN_PROGRESS:
        return TransactionStatus.PENDING
    return None


def record_of(tx: Transaction, answer: MerchantAnswer) -> ProviderRecord | None:
    """Click's answer about our transaction `tx` in our vocabulary; None when Click does not know the payment."""
    if answer.error_code != 0:
        return None
    amount = None if answer.amount is None else _tiyin(answer.amount)
    status = status_of(answer.payment_status, tx)
    click_trans_id = tx.details.get("click_trans_id")
    return ProviderRecord(
        reference=None if click_trans_id is None else str(click_trans_id),
        transaction_id=tx.id,
        amount=amount,
        # A reversal gives back the whole payment (Click has no partial refund); Click states no refunded sum.
        refunded_amount=amount if status is TransactionStatus.REFUNDED else None,
        currency=None if amount is None else CLICK_CURRENCY,
        status=status,
        merchant_reference=merchant_trans_id(tx.id, tx.details),
    )


async def records(
    ledger: Ledger, payment_status: PaymentStatus, limit: int = CONCURRENCY
) -> AsyncIterator[ProviderRecord]:
    """Click's record of each of our payments it knows, streamed from the ledger with `limit` calls in flight."""

    async def ask(tx: Transaction) -> ProviderRecord | None:
        payment_id = payment_id_of(tx)
        if payment_id is None:
            return None  # never prepared: the payment never reached Click
        return record_of(tx, await payment_status(payment_id))

    async for record in ask_each(ledger.transactions(), ask, limit):
        yield record


def _tiyin(amount: Decimal) -> int:
    try:
        return Money.from_major(amount, CLICK_CURRENCY).minor
    except DomainError as exc:
        raise ProviderUnavailable(f"Click's amount {amount} is not an amount in {CLICK_CURRENCY}: {exc}") from exc
