"""Payme's Merchant API in the processor: each call is one unit of work with the transaction row locked."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, cast, select

from shared.broker.rpc import GatewayCall
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount
from shared.gateways.payme import records
from shared.gateways.payme.adapter import CURRENCY, PaymeConfig
from shared.gateways.payme.errors import Fault, PaymeError
from shared.gateways.payme.protocol import (
    CancelParams,
    CheckPerformParams,
    CreateParams,
    FiscalParams,
    IdParams,
    Params,
    PasswordParams,
    StatementParams,
    parse_params,
)
from shared.gateways.processing import GatewayWiring, ProcessorDeps
from shared.persistence import mapping
from shared.persistence.admin import GatewayAccounts
from shared.persistence.repositories import TransactionRepository
from shared.persistence.tables import transactions
from shared.persistence.unit_of_work import UnitOfWork

P = TypeVar("P", bound=Params)
PAYME_ID = ("payme_id",)


@dataclass(frozen=True)
class Scope:
    """What one call works with: its unit of work, the account and one `now` for every time it records."""

    uow: UnitOfWork
    account: GatewayAccount
    config: PaymeConfig
    now: datetime

    @property
    def now_ms(self) -> int:
        return records.to_ms(self.now)

    @property
    def repo(self) -> TransactionRepository:
        return self.uow.transactions(self.account.tenant_id)


class PaymeCalls:
    def __init__(self, deps: ProcessorDeps) -> None:
        self._deps = deps

    async def __call__(self, call: GatewayCall) -> dict[str, Any]:
        """The JSON-RPC `result` or `error` member; the ingress adds the envelope."""
        try:
            return {"result": await self._dispatch(call)}
        except PaymeError as error:
            return {"error": error.body()}

    async def _dispatch(self, call: GatewayCall) -> dict[str, Any]:
        match call.operation:
            case "CheckPerformTransaction":
                order = _params(call, CheckPerformParams)
                return await self._read(call, lambda s: self._check_perform(s, order))
            case "CreateTransaction":
                create = _params(call, CreateParams)
                return await self._write(call, create.id, lambda s: self._create(s, create))
            case "PerformTransaction":
                perform = _params(call, IdParams)
                return await self._write(call, perform.id, lambda s: self._perform(s, perform))
            case "CancelTransaction":
                cancel = _params(call, CancelParams)
                return await self._write(call, cancel.id, lambda s: self._cancel(s, cancel))
            case "CheckTransaction":
                check = _params(call, IdParams)
                return await self._read(call, lambda s: self._check(s, check))
            case "GetStatement":
                period = _params(call, StatementParams)
                return await self._read(call, lambda s: self._statement(s, period))
            case "SetFiscalData":
                fiscal = _params(call, FiscalParams)
                return await self._write(call, fiscal.id, lambda s: self._fiscal(s, fiscal))
            case "ChangePassword":
                return await self._change_password(call, _params(call, PasswordParams))
            case _:
                raise PaymeError(Fault.METHOD_NOT_FOUND, call.operation)

    async def _read(self, call: GatewayCall, answer: Callable[[Scope], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        async with self._deps.reader() as uow:
            return await answer(await self._scope(uow, call))

    async def _write(
        self, call: GatewayCall, payme_id: str, change: Callable[[Scope], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        async with self._deps.uow() as uow:
            scope = await self._scope(uow, call)
            actor, request_id = f"gateway:payme:{call.account_id}", f"payme:{call.operation}:{payme_id}"

            async def record(outcome: str) -> None:
                """The call as received, with what we answered: `ok` or Payme's error code."""
                uow.log_webhook(
                    tenant_id=call.tenant_id,
                    account_id=call.account_id,
                    gateway="payme",
                    message_id=request_id,
                    payload={"method": call.operation, "params": call.params},
                    outcome=outcome,
                )
                await uow.commit(actor=actor, request_id=request_id)

            try:
                answer = await change(scope)
            except PaymeError as refusal:
                # A refusal may still have recorded something (a timed-out transaction canceled), and the call's log.
                await record(str(refusal.fault.code))
                raise
            await record("ok")
            return answer

    async def _scope(self, uow: UnitOfWork, call: GatewayCall) -> Scope:
        account = await uow.accounts(call.tenant_id).get(call.account_id)
        if account is None or account.gateway != "payme":
            raise PaymeError(Fault.UNAUTHORIZED)  # removed since the ingress checked the key
        return Scope(uow, account, PaymeConfig.model_validate(account.config), self._deps.clock())

    async def _check_perform(self, s: Scope, p: CheckPerformParams) -> dict[str, Any]:
        order = await self._order(s, p.account, lock=False)
        _admit(order, p.amount, s.config)
        return {"allow": True}

    async def _create(self, s: Scope, p: CreateParams) -> dict[str, Any]:
        known = await s.repo.find_by_detail(s.account.id, PAYME_ID, p.id)
        if known is None:
            if s.now_ms - p.time > records.TIMEOUT_MS:
                raise PaymeError(Fault.TRANSACTION_EXPIRED)  # stale from the start: nothing to record
            order = await self._order(s, p.account, lock=True)
            # A twin of this call may have recorded the id while we waited for the order's lock.
            known = await s.repo.find_by_detail(s.account.id, PAYME_ID, p.id)
            if known is None:
                return records.create_result(self._attach(s, order, p))
        if records.state(known) != records.CREATED:
            raise PaymeError(Fault.CANNOT_PERFORM)
        if records.timed_out(known, s.now_ms):
            _expire(s, known, records.REASON_TIMEOUT)
            raise PaymeError(Fault.TRANSACTION_EXPIRED)
        return records.create_result(known)

    def _attach(self, s: Scope, order: Transaction, p: CreateParams) -> Transaction:
        repeat = _admit(order, p.amount, s.config)
        facts = records.created(p.id, p.time, p.account, s.now_ms)
        due = records.deadline(p.time)
        if not repeat:
            order.update(s.now, details=facts)
            # The scheduler expires the payment if Payme forgets it (or an earlier account limit, if any).
            order.expires_at = due if order.expires_at is None else min(order.expires_at, due)
            return order
        tx = Transaction.open(
            id=records.repeat_id(s.account.id, p.id),
            tenant_id=s.account.tenant_id,
            account_id=s.account.id,
            gateway="payme",
            money=order.money,
            details={**facts, "repeat_of": str(order.id)},
            metadata=order.metadata,
            at=s.now,
            expires_at=due,
        )
        s.repo.add(tx)
        return tx

    async def _perform(self, s: Scope, p: IdParams) -> dict[str, Any]:
        tx = await self._payme_transaction(s, p.id)
        match records.state(tx):
            case records.CREATED:
                if records.timed_out(tx, s.now_ms):
                    _expire(s, tx, records.REASON_TIMEOUT)
                    raise PaymeError(Fault.TRANSACTION_EXPIRED)
                if not tx.can_move_to(TransactionStatus.COMPLETED):
                    raise PaymeError(Fault.CANNOT_PERFORM)  # closed on our side (e.g. canceled by the creator)
                tx.complete(s.now, records.performed(s.now_ms))
            case records.PERFORMED:
                pass  # performed before: the stored answer, unchanged
            case _:
                raise PaymeError(Fault.CANNOT_PERFORM)
        return records.perform_result(tx)

    async def _cancel(self, s: Scope, p: CancelParams) -> dict[str, Any]:
        tx = await self._payme_transaction(s, p.id)
        match records.state(tx):
            case records.CREATED:
                if p.reason == records.REASON_TIMEOUT:
                    _expire(s, tx, p.reason)  # Payme's own timeout: our status is `expired`, not `canceled`
                else:
                    _cancel(s, tx, p.reason)
            case records.PERFORMED:
                if not s.config.allow_cancel_after_perform:
                    raise PaymeError(Fault.CANNOT_CANCEL)
                if tx.status.is_refundable():
                    await _refund_all(s, tx, p.reason)
                tx.update(s.now, details=records.canceled(s.now_ms, records.CANCELED_AFTER_PERFORM, p.reason))
            case _:
                pass  # canceled before: the stored answer, unchanged
        return records.cancel_result(tx)

    async def _check(self, s: Scope, p: IdParams) -> dict[str, Any]:
        return records.check_result(await self._payme_transaction(s, p.id, lock=False))

    async def _statement(self, s: Scope, p: StatementParams) -> dict[str, Any]:
        payme_time = cast(transactions.c.details["payme_time"].astext, BigInteger)
        query = (
            select(transactions)
            .where(
                transactions.c.tenant_id == s.account.tenant_id,
                transactions.c.account_id == s.account.id,
                transactions.c.gateway == "payme",
                transactions.c.details.has_key("payme_id"),
                payme_time.between(p.from_, p.to),
            )
            .order_by(payme_time, transactions.c.id)
        )
        rows = (await s.uow.conn.execute(query)).mappings().all()
        return {"transactions": [records.statement_entry(mapping.transaction_from_row(row)) for row in rows]}

    async def _fiscal(self, s: Scope, p: FiscalParams) -> dict[str, Any]:
        tx = await self._payme_transaction(s, p.id)
        stored = tx.details.get("fiscal_data")
        fiscal = {**(stored if isinstance(stored, dict) else {}), p.type.lower(): p.fiscal_data}
        tx.update(s.now, details={"fiscal_data": fiscal})
        return {"success": True}

    async def _change_password(self, call: GatewayCall, p: PasswordParams) -> dict[str, Any]:
        accounts = GatewayAccounts(self._deps.engine, self._deps.cipher, call.tenant_id)
        # The credential that authenticated the call is the one replaced: a sandbox call never touches the live key.
        changed = await accounts.update(self._deps.registry.get("payme"), call.account_id, {p.credential: p.password})
        if changed is None:
            raise PaymeError(Fault.UNAUTHORIZED)
        return {"success": True}

    async def _payme_transaction(self, s: Scope, payme_id: str, *, lock: bool = True) -> Transaction:
        tx = await s.repo.find_by_detail(s.account.id, PAYME_ID, payme_id, lock=lock)
        if tx is None:
            raise PaymeError(Fault.TRANSACTION_NOT_FOUND)
        return tx

    async def _order(self, s: Scope, account: dict[str, Any], *, lock: bool) -> Transaction:
        """The order Payme names in `account`: by the creator's value, else by our transaction id."""
        field = s.config.account_field
        value = account.get(field)
        if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
            raise PaymeError(Fault.ORDER_NOT_FOUND, field)
        order = await s.repo.find_by_detail(s.account.id, ("account", field), str(value), lock=lock)
        if order is None:
            order = await _by_own_id(s.repo, s.account.id, str(value), lock=lock)
        if order is None or order.gateway != "payme" or order.deleted_at is not None:
            raise PaymeError(Fault.ORDER_NOT_FOUND, field)
        return order


def _params(call: GatewayCall, model: type[P]) -> P:
    parsed = parse_params(call.operation, call.params)
    if not isinstance(parsed, model):
        raise PaymeError(Fault.INVALID_REQUEST)
    return parsed


async def _by_own_id(
    repo: TransactionRepository, account_id: uuid.UUID, value: str, *, lock: bool
) -> Transaction | None:
    """An order created without `details.account` is named by its own id (the checkout link says so)."""
    try:
        transaction_id = uuid.UUID(value)
    except ValueError:
        return None
    tx = await repo.get(transaction_id, lock=lock)
    if tx is None or tx.account_id != account_id or tx.details.get("account"):
        return None  # an order with its own account value answers to that value only
    return tx


def _admit(order: Transaction, amount: int, config: PaymeConfig) -> bool:
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


def _cancel(s: Scope, tx: Transaction, reason: int) -> None:
    facts = records.canceled(s.now_ms, records.CANCELED, reason)
    if tx.can_move_to(TransactionStatus.CANCELED):
        tx.cancel(s.now, details=facts)
    else:
        tx.update(s.now, details=facts)  # already closed here (e.g. by its creator): record Payme's side too


def _expire(s: Scope, tx: Transaction, reason: int) -> None:
    facts = records.canceled(s.now_ms, records.CANCELED, reason)
    if tx.can_move_to(TransactionStatus.EXPIRED):
        tx.expire(s.now, facts)
    else:
        tx.update(s.now, details=facts)


async def _refund_all(s: Scope, tx: Transaction, reason: int) -> None:
    """Payme's cancel after perform is a full refund, already paid back by Payme: requested and settled at once."""
    refunds = s.uow.refunds(s.account.tenant_id)
    refund = tx.request_refund(
        refund_id=records.refund_id(tx.id),
        amount=None,
        reason=f"Payme CancelTransaction, reason {reason}",
        in_flight=await refunds.in_flight(tx.id),
        at=s.now,
    )
    refunds.add(refund)
    tx.settle_refund(refund, s.now, provider_refund_id=str(tx.details.get("payme_id")))


def wire(deps: ProcessorDeps) -> GatewayWiring:
    return GatewayWiring(gateway="payme", calls=PaymeCalls(deps))
