"""Processor handlers: open the unit of work, load one aggregate, call one method, commit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.clock import Clock
from shared.domain import commands
from shared.domain.errors import NotFound, TransitionNotAllowed
from shared.domain.money import Money
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount
from shared.gateways.registry import GatewayRegistry
from shared.persistence.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
CONSUMER = "processor"


class TransactionHandlers:
    def __init__(self, uow: Callable[[], UnitOfWork], registry: GatewayRegistry, clock: Clock) -> None:
        self._uow = uow
        self._registry = registry
        self._clock = clock

    async def create(self, cmd: commands.CreateTransaction) -> None:
        adapter = self._registry.get(cmd.gateway)
        async with self._uow() as uow:
            if not await uow.claim(CONSUMER, cmd.command_id):
                return
            account = await self._account(uow, cmd.tenant_id, cmd.gateway, cmd.account_id)
            repo = uow.transactions(cmd.tenant_id)
            if await repo.get(cmd.transaction_id, lock=False) is not None:
                return  # the same transaction from another command id: never a second row
            now = self._clock()
            money = Money.positive(cmd.amount, cmd.currency)
            tx = Transaction.open(
                id=cmd.transaction_id,
                tenant_id=cmd.tenant_id,
                account_id=account.id,
                gateway=cmd.gateway,
                money=money,
                details=cmd.details,
                metadata=cmd.metadata,
                at=cmd.requested_at or now,
                expires_at=_expiry(account, now),
                payment_url=adapter.payment_link(account, cmd.transaction_id, money, cmd.details),
            )
            repo.add(tx)
            await uow.commit(actor=cmd.actor, request_id=cmd.command_id)

    async def complete(self, cmd: commands.CompleteTransaction) -> None:
        async with self._uow() as uow:
            if not await uow.claim(CONSUMER, cmd.command_id):
                return
            tx = await self._get(uow, cmd.tenant_id, cmd.transaction_id)
            if not self._registry.get(tx.gateway).manual_completion:
                raise TransitionNotAllowed(f"{tx.gateway} payments are completed by the gateway, not by a command")
            tx.complete(self._clock())
            await uow.commit(actor=cmd.actor, request_id=cmd.command_id)

    async def cancel(self, cmd: commands.CancelTransaction) -> None:
        async with self._uow() as uow:
            if not await uow.claim(CONSUMER, cmd.command_id):
                return
            tx = await self._get(uow, cmd.tenant_id, cmd.transaction_id)
            tx.cancel(self._clock(), reason=cmd.reason)
            await uow.commit(actor=cmd.actor, request_id=cmd.command_id)

    async def delete(self, cmd: commands.DeleteTransaction) -> None:
        async with self._uow() as uow:
            if not await uow.claim(CONSUMER, cmd.command_id):
                return
            tx = await self._get(uow, cmd.tenant_id, cmd.transaction_id)
            tx.delete(self._clock())
            await uow.commit(actor=cmd.actor, request_id=cmd.command_id)

    async def expire(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> bool:
        """Expire one overdue pending transaction (the scheduler's sweep); False if it moved on meanwhile."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id)
            now = self._clock()
            if tx is None or not tx.is_expired(now) or not tx.can_move_to(tx.status.EXPIRED):
                return False
            tx.expire(now)
            await uow.commit(actor="scheduler", request_id=f"expire:{transaction_id}")
            return True

    async def record_integrator_status(self, cmd: commands.RecordIntegratorStatus) -> None:
        async with self._uow() as uow:
            if not await uow.claim(CONSUMER, cmd.command_id):
                return
            await uow.log_webhook(
                tenant_id=cmd.tenant_id,
                account_id=cmd.account_id,
                gateway="integrator",
                message_id=cmd.command_id,
                payload={
                    "transaction_id": str(cmd.transaction_id),
                    "status": cmd.status,
                    "data": cmd.data,
                    "error_code": cmd.error_code,
                    "error_note": cmd.error_note,
                },
            )
            tx = await self._get(uow, cmd.tenant_id, cmd.transaction_id)
            if tx.account_id != cmd.account_id or tx.gateway != "integrator":
                raise NotFound(f"transaction {cmd.transaction_id} does not belong to this integrator account")
            extra: dict[str, object] = {}
            if cmd.data:
                extra["data"] = {**tx.details.get("data", {}), **cmd.data}
            now = self._clock()
            match cmd.status:
                case "completed":
                    tx.complete(now, extra)
                case "failed":
                    tx.fail(now, {**extra, "error_code": cmd.error_code, "error_note": cmd.error_note})
                case "canceled":
                    tx.cancel(now, details=extra)
            await uow.commit(actor=f"gateway:integrator:{cmd.account_id}", request_id=cmd.command_id)

    async def _account(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, gateway: str, account_id: uuid.UUID | None
    ) -> GatewayAccount:
        accounts = uow.accounts(tenant_id)
        account = await accounts.get(account_id) if account_id else await accounts.only_one_for(gateway)
        if account is None or account.gateway != gateway:
            raise NotFound(f"no {gateway} gateway account {account_id or ''} for this tenant".replace("  ", " "))
        return account

    @staticmethod
    async def _get(uow: UnitOfWork, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> Transaction:
        tx = await uow.transactions(tenant_id).get(transaction_id)
        if tx is None:
            raise NotFound(f"transaction {transaction_id} not found")
        return tx


def _expiry(account: GatewayAccount, now: datetime) -> datetime | None:
    seconds = account.config.get("expiry_seconds")
    return now + timedelta(seconds=int(seconds)) if seconds else None
