"""Processor handlers: open the unit of work, load one aggregate, call one method, commit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.clock import Clock
from shared.domain import commands
from shared.domain.details import admit_receipt, parse_details
from shared.domain.errors import InvalidAmount, NotFound, TransitionNotAllowed
from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import (
    GatewayAccount,
    ProviderRejected,
    ProviderStatus,
    apply_provider_status,
    holds_payments,
)
from shared.gateways.manifest import GatewayManifest
from shared.gateways.registry import GatewayRegistry
from shared.persistence.port import UnitOfWorkPort

log = logging.getLogger(__name__)
CONSUMER = "processor"


class TransactionHandlers:
    def __init__(self, uow: Callable[[], UnitOfWorkPort], registry: GatewayRegistry, clock: Clock) -> None:
        self._uow = uow
        self._registry = registry
        self._clock = clock

    async def create(self, cmd: commands.CreateTransaction) -> None:
        gateway = self._registry.manifest(cmd.gateway)
        adapter = gateway.adapter
        async with self._uow() as uow:
            if await uow.claim(CONSUMER, cmd.command_id):
                await self._open(uow, cmd, gateway)
        if adapter.starts_with_provider_call:
            # Also on a redelivered command: the provider call may be what the last attempt did not finish.
            await self.start_with_provider(cmd.tenant_id, cmd.transaction_id)

    async def _open(self, uow: UnitOfWorkPort, cmd: commands.CreateTransaction, gateway: GatewayManifest) -> None:
        account = await self._account(uow, cmd.tenant_id, cmd.gateway, cmd.account_id)
        repo = uow.transactions(cmd.tenant_id)
        now = self._clock()
        money = Money.positive(cmd.amount, cmd.currency)
        details = parse_details(gateway.details, cmd.details)  # upstream commands skip the ingress' checks
        details = admit_receipt(
            gateway.details, details, money.minor, required=bool(account.config.get("fiscal_required"))
        )
        tx = Transaction.open(
            id=cmd.transaction_id,
            tenant_id=cmd.tenant_id,
            account_id=account.id,
            gateway=cmd.gateway,
            money=money,
            details=details,
            metadata=cmd.metadata,
            at=cmd.requested_at or now,
            expires_at=_expiry(account, now),
            payment_url=gateway.adapter.payment_link(account, cmd.transaction_id, money, details),
        )
        repo.add(tx)  # an id taken by another command's transaction is skipped at commit: never a second row
        await uow.commit(actor=cmd.actor, request_id=cmd.command_id)

    async def start_with_provider(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> None:
        """Create the payment at the provider (our id is its idempotency key), outside any database transaction."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id, lock=False)
            if tx is None or tx.status is not TransactionStatus.PENDING or tx.payment_url:
                return
            account = await uow.accounts(tenant_id).get(tx.account_id)
        if account is None:
            raise NotFound(f"gateway account {tx.account_id} not found")
        adapter = self._registry.get(tx.gateway)
        try:
            started = await adapter.start_payment(account, tx)
        except ProviderRejected as exc:
            log.warning(
                "the provider refused a payment", extra={"transaction_id": str(transaction_id), "error": str(exc)}
            )
            refusal = {"error_note": exc.note[:500]}  # a status and a code: the answer's text may be anyone's
            await self._record(
                tenant_id, transaction_id, f"gateway:{tx.gateway}", lambda pending, now: pending.fail(now, refusal)
            )
            return
        await self._record(
            tenant_id,
            transaction_id,
            f"gateway:{tx.gateway}",
            lambda pending, now: pending.update(now, details=started.details, payment_url=started.payment_url),
        )

    async def sync_with_provider(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> None:
        """The janitor's question to the provider about a payment still pending here (a webhook may be lost)."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id, lock=False)
            if tx is None or tx.status is not TransactionStatus.PENDING:
                return
            account = await uow.accounts(tenant_id).get(tx.account_id)
        if account is None:
            return
        if not tx.payment_url and self._registry.get(tx.gateway).starts_with_provider_call:
            await self.start_with_provider(tenant_id, transaction_id)
            return
        reported = await self._registry.get(tx.gateway).status(account, tx)
        await self._record(
            tenant_id, transaction_id, "janitor", lambda pending, now: apply_provider_status(pending, reported, now)
        )

    async def _record(
        self,
        tenant_id: uuid.UUID,
        transaction_id: uuid.UUID,
        actor: str,
        change: Callable[[Transaction, datetime], None],
    ) -> None:
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id)
            if tx is None:
                return
            try:
                change(tx, self._clock())
            except TransitionNotAllowed:
                return  # it moved on meanwhile (a webhook won the race): nothing to record
            await uow.commit(actor=actor, request_id=f"{actor}:{transaction_id}")

    async def complete(self, cmd: commands.CompleteTransaction) -> None:
        """Manual gateways complete here; a payment the provider holds is captured (intent, call, outcome)."""
        capture = False
        async with self._uow() as uow:
            claimed = await uow.claim(CONSUMER, cmd.command_id)
            if claimed:
                tx = await self._get(uow, cmd.tenant_id, cmd.transaction_id)
                adapter = self._registry.get(tx.gateway)
                capture = not adapter.manual_completion and holds_payments(adapter)
                if adapter.manual_completion:
                    if cmd.amount is not None and cmd.amount != tx.amount:
                        raise InvalidAmount(f"{tx.gateway} payments are completed for their whole amount")
                    tx.complete(self._clock())
                elif holds_payments(adapter):
                    tx.update(self._clock(), details=adapter.decide(tx, capture=True, amount=cmd.amount))
                else:
                    raise TransitionNotAllowed(f"{tx.gateway} payments are completed by the gateway, not by a command")
                await uow.commit(actor=cmd.actor, request_id=cmd.command_id)
        if capture or not claimed:  # a redelivery resumes a capture the last attempt did not finish
            await self._send_decision(cmd.tenant_id, cmd.transaction_id)

    async def cancel(self, cmd: commands.CancelTransaction) -> None:
        """Cancel here first; a payment the provider holds is then released (a redelivery resumes the call)."""
        release: dict[str, object] | None = None
        async with self._uow() as uow:
            claimed = await uow.claim(CONSUMER, cmd.command_id)
            if claimed:
                tx = await self._get(uow, cmd.tenant_id, cmd.transaction_id)
                adapter = self._registry.get(tx.gateway)
                if holds_payments(adapter):
                    release = adapter.decide(tx, capture=False, amount=None)
                tx.cancel(self._clock(), reason=cmd.reason, details=release)
                await uow.commit(actor=cmd.actor, request_id=cmd.command_id)
        if release or not claimed:
            await self._send_decision(cmd.tenant_id, cmd.transaction_id)

    async def _send_decision(self, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> None:
        """Tell the provider a recorded capture or release, outside any database transaction, then record it."""
        async with self._uow() as uow:
            tx = await uow.transactions(tenant_id).get(transaction_id, lock=False)
            adapter = None if tx is None else self._registry.get(tx.gateway)
            if tx is None or not holds_payments(adapter) or not adapter.decision_unsent(tx):
                return
            account = await uow.accounts(tenant_id).get(tx.account_id)
        if account is None:
            raise NotFound(f"gateway account {tx.account_id} not found")
        reported = await adapter.send_decision(account, tx)

        def record_answer(locked: Transaction, now: datetime) -> None:
            if adapter.decision_unsent(locked):  # a concurrent redelivery may have recorded the outcome already
                _record_decision_answer(locked, reported, now)

        await self._record(tenant_id, transaction_id, f"gateway:{tx.gateway}", record_answer)

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
            tx.expire(now, self._registry.get(tx.gateway).on_expiry(tx, now))
            await uow.commit(actor="scheduler", request_id=f"expire:{transaction_id}")
            return True

    async def _account(
        self, uow: UnitOfWorkPort, tenant_id: uuid.UUID, gateway: str, account_id: uuid.UUID | None
    ) -> GatewayAccount:
        accounts = uow.accounts(tenant_id)
        account = await accounts.get(account_id) if account_id else await accounts.only_one_for(gateway)
        if account is None or account.gateway != gateway:
            raise NotFound(f"no {gateway} gateway account {account_id or ''} for this tenant".replace("  ", " "))
        return account

    @staticmethod
    async def _get(uow: UnitOfWorkPort, tenant_id: uuid.UUID, transaction_id: uuid.UUID) -> Transaction:
        tx = await uow.transactions(tenant_id).get(transaction_id)
        if tx is None:
            raise NotFound(f"transaction {transaction_id} not found")
        return tx


def _record_decision_answer(tx: Transaction, reported: ProviderStatus, now: datetime) -> None:
    """Record the provider's answer to a decision; a release of a canceled payment only adds facts."""
    if (
        reported.status is not None
        and reported.status is not TransactionStatus.PENDING
        and tx.can_move_to(reported.status)
    ):
        apply_provider_status(tx, reported, now)
    else:
        tx.update(now, details=reported.details)


def _expiry(account: GatewayAccount, now: datetime) -> datetime | None:
    seconds = account.config.get("expiry_seconds")
    return now + timedelta(seconds=int(seconds)) if seconds else None
