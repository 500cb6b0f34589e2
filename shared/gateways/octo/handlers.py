"""Octo's notify callbacks, recorded in one unit of work with the transaction row locked."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.broker.rpc import GatewayCall
from shared.clock import Clock
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.octo import decisions
from shared.gateways.octo.config import OctoConfig
from shared.gateways.octo.notices import Notice, NotifyError, NotifyVerdict
from shared.gateways.octo.statuses import OctoStatus, parse_status, progress, to_transaction_status
from shared.gateways.processing import GatewayWiring, ProcessorDeps
from shared.persistence.port import UnitOfWorkPort

log = logging.getLogger(__name__)
GATEWAY = "octo"
NOTIFIED = "notified_statuses"
"""Details key: the statuses whose notify was applied (the transaction is tied to one Octo payment uuid)."""


def wire(deps: ProcessorDeps) -> GatewayWiring:
    return GatewayWiring(gateway=GATEWAY, calls=OctoNotifications(deps.uow, deps.clock).answer)


class OctoNotifications:
    def __init__(self, uow: Callable[[], UnitOfWorkPort], clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def answer(self, call: GatewayCall) -> dict[str, Any]:
        if call.operation != "notify":
            raise ValueError(f"unknown Octo operation {call.operation!r}")
        verdict = await self.notify(call.tenant_id, call.account_id, Notice.model_validate(call.params))
        return verdict.model_dump(mode="json")

    async def notify(self, tenant_id: uuid.UUID, account_id: uuid.UUID, notice: Notice) -> NotifyVerdict:
        """Record a verified notify; a duplicate finds everything recorded and gets the same answer."""
        status = parse_status(notice.status)
        actor = f"gateway:octo:{account_id}"
        request_id = f"octo:{notice.octo_payment_UUID}:{notice.status}"
        async with self._uow() as uow:
            account = await uow.accounts(tenant_id).get(account_id)
            if account is None or account.gateway != GATEWAY:
                return _refused(404, NotifyError.UNKNOWN_ACCOUNT, f"no Octo account {account_id}")
            # The raw call is kept whatever comes of it (webhook_log), in the same transaction as its effect.
            payload = notice.model_dump(mode="json")
            uow.log_webhook(
                tenant_id=tenant_id, account_id=account_id, gateway=GATEWAY, message_id=request_id, payload=payload
            )
            tx = await _find(uow, tenant_id, account_id, notice)
            if status is None or tx is None:
                await uow.commit(actor=actor, request_id=request_id)
                if status is None:
                    return _refused(422, NotifyError.UNKNOWN_STATUS, f"unknown status {notice.status!r}")
                return _refused(404, NotifyError.UNKNOWN_PAYMENT, f"no payment {notice.shop_transaction_id}")
            known = tx.details.get("octo_payment_uuid")
            if known and known != notice.octo_payment_UUID:
                await uow.commit(actor=actor, request_id=request_id)
                log.error("Octo notify for another payment of our transaction", extra={"transaction_id": str(tx.id)})
                return _refused(409, NotifyError.PAYMENT_MISMATCH, f"{tx.id} is tied to another Octo payment")
            config = OctoConfig.model_validate(account.config)
            verdict = _apply(tx, notice, status, config, self._clock())
            await uow.commit(actor=actor, request_id=request_id)
            return verdict


async def _find(uow: UnitOfWorkPort, tenant_id: uuid.UUID, account_id: uuid.UUID, notice: Notice) -> Transaction | None:
    """Our transaction by its id (our shop_transaction_id), else by Octo's payment id; locked either way."""
    repo = uow.transactions(tenant_id)
    ours = _uuid(notice.shop_transaction_id)
    tx = None if ours is None else await repo.get(ours)
    if tx is None or tx.account_id != account_id:
        tx = await repo.find_by_detail(account_id, ("octo_payment_uuid",), notice.octo_payment_UUID)
    return tx if tx is not None and tx.account_id == account_id and tx.gateway == GATEWAY else None


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _apply(tx: Transaction, notice: Notice, status: OctoStatus, config: OctoConfig, now: datetime) -> NotifyVerdict:
    """One notify's effect on the locked transaction, and the answer Octo gets."""
    applied = list(tx.details.get(NOTIFIED) or [])
    if status.value in applied:
        # The signature covers only the payment uuid and the status: a replayed notify (Octo's own resend, or
        # a captured one sent again) must not bring other sums or card facts with it. Answered all the same.
        return _answer(tx, status, config, now)
    facts = notice.details()
    facts[NOTIFIED] = [*applied, status.value]
    current = parse_status(tx.details.get("status"))
    if current is not None and progress(status) < progress(current):
        facts.pop("status")  # a late notify adds its facts but never moves the recorded status back
    target = to_transaction_status(status)
    if target is not TransactionStatus.PENDING and tx.can_move_to(target):
        _move(tx, target, facts, now)
    else:
        if target is not TransactionStatus.PENDING and target is not tx.status:
            log.warning("Octo reports %s for a %s transaction", status.value, tx.status.value, extra={"id": str(tx.id)})
        tx.update(now, details=facts)
    return _answer(tx, status, config, now)


def _answer(tx: Transaction, status: OctoStatus, config: OctoConfig, now: datetime) -> NotifyVerdict:
    """What Octo gets for this status; for waiting_for_capture, the capture decision (recorded once)."""
    if status is not OctoStatus.WAITING_FOR_CAPTURE:
        return NotifyVerdict()
    decision = decisions.on_waiting_notify(tx, config.capture_on_notify)
    if decision is None:
        return NotifyVerdict()  # held until `complete` captures it or `cancel` releases it
    accept, final = decision
    if tx.details.get(decisions.ACCEPT_OUTCOME) is None:
        # Given in this answer: the processor must not also send it with set_accept.
        tx.update(now, details={decisions.ACCEPT_STATUS: accept, decisions.ACCEPT_OUTCOME: decisions.ANSWERED})
    return NotifyVerdict(accept_status=accept, final_amount=final, currency=tx.currency if final else None)


def _move(tx: Transaction, target: TransactionStatus, facts: dict[str, Any], now: datetime) -> None:
    match target:
        case TransactionStatus.COMPLETED:
            tx.complete(now, facts, captured=decisions.partial_capture(tx))
        case TransactionStatus.FAILED:
            tx.fail(now, facts)
        case TransactionStatus.CANCELED:
            tx.cancel(now, details=facts)
        case (
            TransactionStatus.PENDING
            | TransactionStatus.EXPIRED
            | TransactionStatus.PARTIALLY_REFUNDED
            | TransactionStatus.REFUNDED
        ):
            raise ValueError(f"an Octo notify never moves a transaction to {target.value}")


def _refused(http_status: int, error: NotifyError, message: str) -> NotifyVerdict:
    return NotifyVerdict(http_status=http_status, error=error, message=message)
