"""Refund handlers: record the intent, call the provider outside any transaction, record the outcome."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from shared.clock import Clock
from shared.domain import commands
from shared.domain.errors import DomainError, InvalidAmount, NotFound
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, ProviderRejected, RefundOutcome
from shared.gateways.registry import GatewayRegistry
from shared.persistence.port import UnitOfWorkPort

log = logging.getLogger(__name__)


class RefundHandlers:
    def __init__(self, uow: Callable[[], UnitOfWorkPort], registry: GatewayRegistry, clock: Clock) -> None:
        self._uow = uow
        self._registry = registry
        self._clock = clock

    async def request(self, cmd: commands.RequestRefund) -> None:
        """Idempotent by refund id: a redelivered command resumes where the last attempt stopped."""
        opened = await self._open(cmd)
        if opened is not None:
            await self._refund_at_provider(
                cmd.tenant_id, cmd.transaction_id, cmd.refund_id, cmd.actor, cmd.command_id, *opened
            )

    async def resume(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID, refund_id: uuid.UUID) -> None:
        """The janitor's path for a refund left `requested` by a crash."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id, lock=False)
            refund = await uow.refunds(tenant_id).get(refund_id)
            if tx is None or refund is None or refund.status is not RefundStatus.REQUESTED:
                return
            account = await uow.accounts(tenant_id).get(tx.account_id)
        if account is not None:
            await self._refund_at_provider(
                tenant_id, transaction_id, refund_id, "janitor", f"resume:{refund_id}", tx, refund, account
            )

    async def _open(self, cmd: commands.RequestRefund) -> tuple[Transaction, Refund, GatewayAccount] | None:
        async with self._uow() as uow:
            tx = await uow.transactions(cmd.tenant_id).get(cmd.transaction_id)
            if tx is None:
                raise NotFound(f"transaction {cmd.transaction_id} not found")
            refunds = uow.refunds(cmd.tenant_id)
            refund = await refunds.get(cmd.refund_id)
            account = await uow.accounts(cmd.tenant_id).get(tx.account_id)
            if account is None:
                raise NotFound(f"gateway account {tx.account_id} not found")
            if refund is None:
                refund = self._try_open(tx, cmd, await refunds.in_flight(tx.id))
                if refund is None:
                    return None
                refunds.add(refund)
                await uow.commit(actor=cmd.actor, request_id=cmd.command_id)
            if refund.status is not RefundStatus.REQUESTED:
                return None
            return tx, refund, account

    def _try_open(self, tx: Transaction, cmd: commands.RequestRefund, in_flight: int) -> Refund | None:
        now = self._clock()
        try:
            self._registry.get(tx.gateway)
            return tx.request_refund(
                refund_id=cmd.refund_id,
                amount=cmd.amount,
                reason=cmd.reason,
                in_flight=in_flight,
                at=cmd.requested_at or now,
            )
        except InvalidAmount:
            raise
        except DomainError as exc:
            if not cmd.amount or cmd.amount <= 0:
                raise
            log.info("refund refused", extra={"refund_id": str(cmd.refund_id), "reason": str(exc)})
            return tx.reject_refund(
                refund_id=cmd.refund_id, amount=cmd.amount, reason=cmd.reason, error=str(exc), at=now
            )

    async def _refund_at_provider(
        self,
        tenant_id: uuid.UUID,
        transaction_id: uuid.UUID,
        refund_id: uuid.UUID,
        actor: str,
        request_id: str,
        tx: Transaction,
        refund: Refund,
        account: GatewayAccount,
    ) -> None:
        adapter = self._registry.get(tx.gateway)
        try:
            outcome = await adapter.refund(account, tx, refund)
        except ProviderRejected as exc:
            log.warning("the provider refused a refund", extra={"refund_id": str(refund_id), "error": str(exc)})
            outcome = RefundOutcome(succeeded=False, error=exc.note)  # a status and a code, never the answer's text
        async with self._uow() as uow:
            locked = await uow.transactions(tenant_id).get(transaction_id)
            current = await uow.refunds(tenant_id).get(refund_id)
            if locked is None or current is None or current.status is not RefundStatus.REQUESTED:
                return
            if not outcome.succeeded:
                locked.fail_refund(current, outcome.error or "refused by the gateway", self._clock())
            else:
                try:
                    locked.settle_refund(current, self._clock(), outcome.provider_refund_id)
                except DomainError as exc:
                    # The provider paid it out but our ledger cannot take it: record the refusal (so the
                    # janitor does not ask the provider again) and leave it to reconciliation and a person.
                    log.error("provider refund does not fit the ledger", extra={"refund_id": str(refund_id)})
                    locked.fail_refund(current, f"refunded by the gateway, refused by the ledger: {exc}", self._clock())
            await uow.commit(actor=actor, request_id=request_id)
