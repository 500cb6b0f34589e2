"""Click's Prepare and Complete in the processor: one unit of work each, the order's row locked."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.broker.rpc import GatewayCall
from shared.clock import Clock
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.click.fiscal import FiscalSubmissions, intent, owed
from shared.gateways.click.rules import is_repeated_prepare, verdict
from shared.gateways.click.shop import (
    REPLY_BY,
    BadRequest,
    ClickError,
    Operation,
    ShopCall,
    answer,
    parse,
    required_fields,
)
from shared.gateways.processing import GatewayWiring, ProcessorDeps
from shared.persistence.port import UnitOfWorkPort

log = logging.getLogger(__name__)
GATEWAY = "click"
MERCHANT_IDS = "click_merchant_ids"
"""The sequence of our ids for Prepare and Complete (merchant_prepare_id, merchant_confirm_id): Click wants integers."""
REPLY_MARGIN_S = 0.2
"""Time the answer still needs to reach the ingress; a change committed later than that is rolled back instead."""


@dataclass(frozen=True, slots=True)
class ShopVerdict:
    """What a Prepare or Complete decided: Click's error code, our merchant id for it, and a note."""

    error: ClickError
    merchant_id: int | None = None
    note: str | None = None


def wire(deps: ProcessorDeps) -> GatewayWiring:
    fiscal = FiscalSubmissions(deps.uow, deps.engine, deps.clock)
    return GatewayWiring(gateway=GATEWAY, calls=ClickCalls(deps.uow, deps.clock, fiscal).answer, tick=fiscal.sweep)


class ClickCalls:
    """Answers the calls the ingress has authenticated (-8, -1, -3 are its own); the body is Click's answer."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWorkPort],
        clock: Clock,
        fiscal: FiscalSubmissions | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._fiscal = fiscal
        self._wall = wall

    async def answer(self, request: GatewayCall) -> dict[str, Any]:
        operation = Operation(request.operation)
        received = {name: str(request.params[name]) for name in required_fields(operation) if name in request.params}
        try:
            call = parse(operation, received)
        except BadRequest as exc:
            return answer(operation, received, ClickError.BAD_REQUEST, note=f"{ClickError.BAD_REQUEST.note}: {exc}")
        async with self._uow() as uow:
            tx = await _order(uow, request.tenant_id, request.account_id, call.merchant_trans_id)
            match operation:
                case Operation.PREPARE:
                    outcome = await self._prepare(uow, tx, call)
                case Operation.COMPLETE:
                    outcome = await self._complete(uow, tx, call)
            _log_call(uow, request, call, outcome)
            if self._too_late(request.params.get(REPLY_BY)):
                # The ingress has told Click -7 already: committing now would make us disagree with Click.
                log.warning("click: answer too late, rolled back", extra={"click_trans_id": call.click_trans_id})
                return answer(operation, received, ClickError.FAILED_TO_UPDATE)
            actor = f"gateway:click:{request.account_id}"
            await uow.commit(actor=actor, request_id=f"click:{operation.value}:{call.click_trans_id}")
        paid_now = operation is Operation.COMPLETE and outcome.error is ClickError.SUCCESS
        if self._fiscal is not None and paid_now and tx is not None and owed(tx):
            self._fiscal.start(tx.tenant_id, tx.id)  # after the commit, outside it: the intent is stored
        return answer(operation, received, outcome.error, outcome.merchant_id, outcome.note)

    async def _prepare(self, uow: UnitOfWorkPort, tx: Transaction | None, call: ShopCall) -> ShopVerdict:
        now = self._clock()
        error = verdict(call, tx, now)
        if error is not ClickError.SUCCESS or tx is None:
            return ShopVerdict(error)
        if is_repeated_prepare(tx, call):
            return ShopVerdict(ClickError.SUCCESS, int(tx.details["merchant_prepare_id"]))
        if await _held_by_another_order(uow, tx, call):
            return ShopVerdict(ClickError.BAD_REQUEST, note="click_trans_id already belongs to another order")
        prepare_id = await _next_id(uow)
        # A new attempt on a pending order replaces the last one's ids: its Complete, if any, now gets -6.
        tx.update(
            now,
            details={
                "merchant_trans_id": call.merchant_trans_id,
                "service_id": call.service_id,
                "click_trans_id": call.click_trans_id,
                "click_paydoc_id": call.click_paydoc_id,
                "merchant_prepare_id": prepare_id,
                "sign_time": call.sign_time,
            },
        )
        return ShopVerdict(ClickError.SUCCESS, prepare_id)

    async def _complete(self, uow: UnitOfWorkPort, tx: Transaction | None, call: ShopCall) -> ShopVerdict:
        now = self._clock()
        error = verdict(call, tx, now)
        if error is ClickError.ALREADY_PAID and tx is not None and _first_complete_after_janitor(tx, call):
            # The janitor completed it on Click's own word; this is Click's first Complete, not a repeat.
            confirm_id = await _next_id(uow)
            tx.update(now, details={"merchant_confirm_id": confirm_id, "sign_time": call.sign_time})
            return ShopVerdict(ClickError.SUCCESS, confirm_id)
        if error is not ClickError.SUCCESS or tx is None:
            return ShopVerdict(error)
        if call.error < 0:
            # Click could not debit the card: the order fails, and Click expects -9 for it.
            tx.fail(now, {"error_code": call.error, "error_note": call.error_note, "sign_time": call.sign_time})
            return ShopVerdict(ClickError.TRANSACTION_CANCELLED)
        confirm_id = await _next_id(uow)
        paid = {"merchant_confirm_id": confirm_id, "click_paydoc_id": call.click_paydoc_id, "sign_time": call.sign_time}
        tx.complete(now, {**paid, **(intent(now) if "receipt" in tx.details else {})})
        return ShopVerdict(ClickError.SUCCESS, confirm_id)

    def _too_late(self, reply_by: object) -> bool:
        if not isinstance(reply_by, int | float) or isinstance(reply_by, bool):
            return False
        return self._wall() > reply_by - REPLY_MARGIN_S


async def _order(
    uow: UnitOfWorkPort, tenant_id: uuid.UUID, account_id: uuid.UUID, merchant_trans_id: str
) -> Transaction | None:
    """The order Click names, locked: by `details.merchant_trans_id`, else by our id when the creator gave none."""
    repo = uow.transactions(tenant_id)
    found = await repo.find_by_detail(account_id, ("merchant_trans_id",), merchant_trans_id)
    if found is not None:
        return found
    try:
        transaction_id = uuid.UUID(merchant_trans_id)
    except ValueError:
        return None
    if str(transaction_id) != merchant_trans_id:
        return None  # only the canonical form the pay link carries
    tx = await repo.get(transaction_id)
    if tx is None or tx.account_id != account_id or tx.gateway != GATEWAY:
        return None
    # An order created with its own merchant_trans_id is known by that alone, not by our id as well.
    return tx if tx.details.get("merchant_trans_id") in (None, merchant_trans_id) else None


async def _held_by_another_order(uow: UnitOfWorkPort, tx: Transaction, call: ShopCall) -> bool:
    """The unique index would refuse it at commit (-7, retried forever); a definitive -8 is the honest answer."""
    repo = uow.transactions(tx.tenant_id)
    other = await repo.find_by_detail(tx.account_id, ("click_trans_id",), str(call.click_trans_id), lock=False)
    return other is not None and other.id != tx.id


def _first_complete_after_janitor(tx: Transaction, call: ShopCall) -> bool:
    return tx.status is TransactionStatus.COMPLETED and call.error == 0 and "merchant_confirm_id" not in tx.details


async def _next_id(uow: UnitOfWorkPort) -> int:
    """merchant_prepare_id / merchant_confirm_id: unique integers from a sequence, inside this transaction."""
    return await uow.next_in(MERCHANT_IDS)


def _log_call(uow: UnitOfWorkPort, request: GatewayCall, call: ShopCall, outcome: ShopVerdict) -> None:
    """Keep every call Click made with our answer; the sign is left out (it is a hash over the secret)."""
    payload = {name: value for name, value in call.received.items() if name != "sign_string"}
    uow.log_webhook(
        tenant_id=request.tenant_id,
        account_id=request.account_id,
        gateway=GATEWAY,
        message_id=f"click:{call.operation.value}:{call.click_trans_id}",
        payload=payload,
        outcome=str(int(outcome.error)),
    )
