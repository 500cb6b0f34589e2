"""Octo as a reconciliation source: the status check (prepare_payment repeated) for each of our payments.

Octo has no statement call, so a run asks about every transaction of the account and period that Octo can know,
a few at a time (`shared.reconciliation.per_payment`), and turns each answer into a `ProviderRecord` in our
vocabulary. A payment Octo refuses to show gives no record: the engine then reports it `missing_there` if we hold
it as paid.
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
from shared.gateways.octo.payloads import OctoPayment
from shared.gateways.octo.statuses import to_transaction_status
from shared.reconciliation.per_payment import CONCURRENCY, ask_each
from shared.reconciliation.sources import Ledger

REFERENCE_PATHS: tuple[tuple[str, ...], tuple[str, ...]] = (("octo_payment_uuid",), ("shop_transaction_id",))
"""Where details keep Octo's payment id and our id at Octo (for settlement files, which may carry only one)."""

StatusCheck = Callable[[Transaction], Coroutine[Any, Any, OctoPayment | None]]
"""Octo's payment for one of our transactions; None when Octo refuses to show it (it does not know it)."""


def worth_asking(tx: Transaction) -> bool:
    """Whether Octo may know the payment: our status check is prepare_payment, which creates what it does not find.

    A recorded `octo_payment_uuid` means Octo answered our create. A pending transaction without one may have lost
    that answer; asking sends the very request its create sends, so it never makes a second payment. Anything else
    (e.g. a create Octo refused, now failed) never reached Octo, and asking would open a payment there.
    """
    return bool(tx.details.get("octo_payment_uuid")) or tx.status is TransactionStatus.PENDING


def record_of(tx: Transaction, payment: OctoPayment) -> ProviderRecord:
    """Octo's answer about our transaction `tx`, in our vocabulary (minor units, our statuses)."""
    unit = payment.currency or tx.currency  # sums are in the payment's currency: the one we created it in
    amount = _minor(payment.total_sum, unit, "total_sum")
    refunded = _minor(payment.refunded_sum, unit, "refunded_sum")
    return ProviderRecord(
        reference=payment.payment_uuid,
        transaction_id=tx.id,  # shop_transaction_id is always our id
        amount=amount,
        refunded_amount=refunded,
        currency=payment.currency,  # None when Octo does not say: not compared
        status=_status(payment, amount, refunded),
        merchant_reference=payment.shop_transaction_id or str(tx.id),
    )


async def records(ledger: Ledger, status_check: StatusCheck, limit: int = CONCURRENCY) -> AsyncIterator[ProviderRecord]:
    """Octo's record of each of our payments it knows, streamed from the ledger with `limit` calls in flight."""

    async def ask(tx: Transaction) -> ProviderRecord | None:
        if not worth_asking(tx):
            return None
        payment = await status_check(tx)
        return None if payment is None else record_of(tx, payment)

    async for record in ask_each(ledger.transactions(), ask, limit):
        yield record


def _status(payment: OctoPayment, amount: int | None, refunded: int | None) -> TransactionStatus | None:
    """The translator's status; a succeeded payment with money given back is (partially) refunded, as ours is."""
    if payment.status is None:
        return None  # a status this code does not know: not compared, never guessed
    status = to_transaction_status(payment.status)
    if status is TransactionStatus.COMPLETED and refunded:
        fully = amount is not None and refunded >= amount
        return TransactionStatus.REFUNDED if fully else TransactionStatus.PARTIALLY_REFUNDED
    return status


def _minor(text: str | None, currency: str, field: str) -> int | None:
    if text is None:
        return None
    try:
        return Money.from_major(Decimal(text), currency).minor
    except DomainError as exc:
        raise ProviderUnavailable(f"Octo's {field} {text} is not an amount in {currency}: {exc}") from exc
