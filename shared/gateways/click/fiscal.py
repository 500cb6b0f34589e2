"""Click's fiscalisation: after a successful payment its receipt's items go to `payment/ofd_data/submit_items`.

The intent (`details.fiscal.status = pending`) is committed with the completion; the call runs after, outside
any database transaction; its outcome is recorded in a new one, and that change's transaction.updated event
carries it. A crash in between leaves the intent, which the sweep submits again; a refusal is recorded as
`failed` and stays so until an operator resubmits (`billing fiscal resubmit --transaction ID`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import Clock
from shared.domain.receipt import lines_of
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction, rfc3339
from shared.gateways.base import GatewayAccount, ProviderRejected, ProviderUnavailable
from shared.gateways.click.adapter import config_of, payment_id_of
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.merchant_api import MerchantApi
from shared.persistence.maintenance import owed_fiscal_receipts
from shared.persistence.port import UnitOfWorkPort

log = logging.getLogger(__name__)
PENDING, SUBMITTED, FAILED = "pending", "submitted", "failed"
NAME_LIMIT = 63
SWEEP_AFTER = timedelta(seconds=30)
"""An intent older than this was not finished by the call that recorded it (a crash, an outage): submit again."""
MAX_ROUNDS = 5
"""Rounds of retries (each several attempts) against an unavailable Click before the submission is failed."""


def intent(at: datetime) -> dict[str, Any]:
    """What the completion records when the payment has a receipt: the submission is owed."""
    return {"fiscal": {"status": PENDING, "requested_at": rfc3339(at), "rounds": 0}}


def owed(tx: Transaction) -> bool:
    """A paid payment with a receipt whose submission is pending (or was never recorded: the janitor paid it)."""
    if tx.gateway != "click" or tx.status is not TransactionStatus.COMPLETED or "receipt" not in tx.details:
        return False
    fiscal = tx.details.get("fiscal")
    return fiscal is None or (isinstance(fiscal, dict) and fiscal.get("status") == PENDING)


def ofd_items(receipt: dict[str, Any], config: ClickConfig) -> list[dict[str, Any]]:
    """The receipt's items in Click's OFD shape; prices include VAT, so VAT is the part of each line's total."""
    commission = {"TIN": config.tin} if config.tin else {"PINFL": config.pinfl} if config.pinfl else None
    items: list[dict[str, Any]] = []
    for given, line in zip(receipt["items"], lines_of(receipt), strict=True):
        item: dict[str, Any] = {
            "Name": line.title[:NAME_LIMIT],
            "SPIC": given["code"],
            "PackageCode": given["package_code"],
            "GoodPrice": line.price,
            "Price": line.gross,
            "Amount": line.count,
            "VAT": line.vat,
            "VATPercent": line.vat_percent,
            "Discount": line.discount,
        }
        if given.get("units") is not None:
            item["Units"] = given["units"]
        if commission is not None:
            item["CommissionInfo"] = commission
        items.append(item)
    return items


def submission(tx: Transaction, config: ClickConfig) -> dict[str, Any]:
    """The body of submit_items for a card payment of the transaction's whole amount."""
    return {
        "service_id": config.service_id,
        "payment_id": payment_id_of(tx),
        "items": ofd_items(tx.details["receipt"], config),
        "received_ecash": 0,
        "received_cash": 0,
        "received_card": tx.amount,
    }


class FiscalSubmissions:
    def __init__(
        self,
        uow: Callable[[], UnitOfWorkPort],
        engine: AsyncEngine,
        clock: Clock,
        api: Callable[[ClickConfig], MerchantApi] = MerchantApi,
        sweep_after: timedelta = SWEEP_AFTER,
    ) -> None:
        self._uow = uow
        self._engine = engine
        self._clock = clock
        self._api = api
        self._sweep_after = sweep_after
        self._running: set[asyncio.Task[None]] = set()

    def start(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> None:
        """Submit in the background: Click's Complete gets its answer without waiting for the OFD."""
        task = asyncio.create_task(self._quietly(tenant_id, transaction_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _quietly(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> None:
        try:
            await self.submit(tenant_id, transaction_id)
        except Exception as exc:  # the intent stays; the sweep submits it again
            log.warning(
                "click: fiscal submission not finished",
                extra={"transaction_id": str(transaction_id), "error": repr(exc)[:300]},
            )

    async def submit(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> dict[str, Any] | None:
        """Submit an owed receipt and record the outcome; None when nothing is owed (done, or not ours)."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id, lock=False)
            if tx is None or not owed(tx):
                return None
            account = await uow.accounts(tenant_id).get(tx.account_id)
        if account is None:
            return None
        outcome = await self._call(account, tx)
        return await self._record(tenant_id, transaction_id, outcome)

    async def _call(self, account: GatewayAccount, tx: Transaction) -> dict[str, Any]:
        config = config_of(account)
        rounds = int((tx.details.get("fiscal") or {}).get("rounds") or 0) + 1
        try:
            answer = await self._api(config).submit_items(submission(tx, config))
        except ProviderRejected as exc:
            return {"status": FAILED, "error_note": str(exc)[:500], "rounds": rounds}
        except ProviderUnavailable as exc:
            status = FAILED if rounds >= MAX_ROUNDS else PENDING
            return {"status": status, "error_note": str(exc)[:500], "rounds": rounds}
        status = SUBMITTED if answer.error_code == 0 else FAILED
        return {"status": status, "error_code": answer.error_code, "error_note": answer.error_note, "rounds": rounds}

    async def _record(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID, outcome: dict[str, Any]) -> dict[str, Any]:
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id)
            if tx is None or not owed(tx):
                return dict(tx.details.get("fiscal") or {}) if tx is not None else outcome
            now = self._clock()
            fiscal = {**(tx.details.get("fiscal") or {}), **outcome, "updated_at": rfc3339(now)}
            tx.update(now, details={"fiscal": fiscal})
            await uow.commit(actor="gateway:click:fiscal", request_id=f"click:fiscal:{transaction_id}")
            return fiscal

    async def resubmit(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID, actor: str) -> dict[str, Any]:
        """An operator's new attempt at a failed (or stuck) submission: the intent again, then the call."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id)
            if tx is None or tx.gateway != "click":
                raise LookupError(f"no Click transaction {transaction_id}")
            if "receipt" not in tx.details:
                raise LookupError(f"transaction {transaction_id} has no receipt to submit")
            if tx.status is not TransactionStatus.COMPLETED:
                raise LookupError(f"a {tx.status.value} transaction is not fiscalised")
            fiscal = tx.details.get("fiscal")
            if isinstance(fiscal, dict) and fiscal.get("status") == SUBMITTED:
                return dict(fiscal)
            now = self._clock()
            tx.update(now, details={"fiscal": {**intent(now)["fiscal"], "resubmitted_by": actor}})
            await uow.commit(actor=actor, request_id=f"click:fiscal:resubmit:{transaction_id}")
        done = await self.submit(tenant_id, transaction_id)
        return done or {}

    async def sweep(self) -> int:
        """Submit the intents that nobody finished (a crash, an outage); safe beside other replicas."""
        cutoff = self._clock() - self._sweep_after
        due = await owed_fiscal_receipts(self._engine, "click", cutoff)
        for tenant_id, transaction_id in due:
            try:
                if await self._claim(tenant_id, transaction_id, cutoff):
                    await self.submit(tenant_id, transaction_id)
            except Exception as exc:  # one payment's trouble must not stop the sweep of the others
                log.warning(
                    "click: fiscal resubmission failed",
                    extra={"transaction_id": str(transaction_id), "error": repr(exc)[:300]},
                )
        return len(due)

    async def _claim(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID, cutoff: datetime) -> bool:
        """Take an abandoned intent for this replica: the row is locked, and the claim moves `updated_at` past
        the cutoff, so a replica sweeping at the same time finds it taken."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id)
            if tx is None or not owed(tx) or tx.updated_at >= cutoff:
                return False
            now = self._clock()
            tx.update(
                now,
                details={
                    "fiscal": {**intent(now)["fiscal"], **(tx.details.get("fiscal") or {}), "claimed_at": rfc3339(now)}
                },
            )
            await uow.commit(actor="gateway:click:fiscal", request_id=f"click:fiscal:claim:{transaction_id}")
            return True

    async def due(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """The abandoned intents a sweep now would take."""
        return await owed_fiscal_receipts(self._engine, "click", self._clock() - self._sweep_after)
