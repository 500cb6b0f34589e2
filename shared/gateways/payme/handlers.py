"""Payme's Merchant API in the processor: each call is one unit of work with the transaction row locked."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared.broker.rpc import GatewayCall
from shared.clock import Clock
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount
from shared.gateways.payme import records, rules
from shared.gateways.payme.config import PaymeConfig
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
from shared.persistence.admin import GatewayAccounts
from shared.persistence.port import Transactions, UnitOfWorkPort

ParamsT = TypeVar("ParamsT", bound=Params)
GATEWAY = "payme"
PAYME_ID = ("payme_id",)


@dataclass(frozen=True)
class PaymeCallContext:
    """What one call works with: its unit of work, the account and one `now` for every time it records."""

    uow: UnitOfWorkPort
    account: GatewayAccount
    config: PaymeConfig
    now: datetime

    @property
    def now_ms(self) -> int:
        return records.to_ms(self.now)

    @property
    def repo(self) -> Transactions:
        return self.uow.transactions(self.account.tenant_id)


Answer = Callable[[PaymeCallContext], Awaitable[dict[str, Any]]]
"""One method's work within its call's context: the JSON-RPC result, or a PaymeError."""


READ_METHODS = frozenset({"CheckPerformTransaction", "CheckTransaction", "GetStatement"})
"""The methods that change nothing: the ingress answers them itself, from the primary (no broker round trip)."""


async def _envelope(answer: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The JSON-RPC `result` or `error` member; the ingress adds the rest."""
    try:
        return {"result": await answer}
    except PaymeError as error:
        return {"error": error.body()}


class PaymeReads:
    """Payme's read methods, answered from committed rows by a unit of work that only reads.

    The processor commits a change before it answers the call that made it, so a read that starts after that
    answer, on the primary, sees it: whichever service runs this, the answer is the same.
    """

    def __init__(self, reader: Callable[[], UnitOfWorkPort], clock: Clock) -> None:
        self._reader = reader
        self._clock = clock

    async def __call__(self, call: GatewayCall) -> dict[str, Any]:
        return await _envelope(self.result(call))

    async def result(self, call: GatewayCall) -> dict[str, Any]:
        match call.operation:
            case "CheckPerformTransaction":
                order = _params(call, CheckPerformParams)
                return await self._read(call, lambda context: _check_perform(context, order))
            case "CheckTransaction":
                check = _params(call, IdParams)
                return await self._read(call, lambda context: _check(context, check))
            case "GetStatement":
                period = _params(call, StatementParams)
                return await self._read(call, lambda context: _statement(context, period))
            case _:
                raise PaymeError(Fault.METHOD_NOT_FOUND, call.operation)

    async def _read(self, call: GatewayCall, answer: Answer) -> dict[str, Any]:
        async with self._reader() as uow:
            return await answer(await _context(uow, call, self._clock))


class PaymeCalls:
    def __init__(self, deps: ProcessorDeps) -> None:
        self._deps = deps
        self._reads = PaymeReads(deps.reader, deps.clock)

    async def __call__(self, call: GatewayCall) -> dict[str, Any]:
        return await _envelope(self._dispatch(call))

    async def _dispatch(self, call: GatewayCall) -> dict[str, Any]:
        if call.operation in READ_METHODS:
            return await self._reads.result(call)  # from an ingress of an earlier version
        match call.operation:
            case "CreateTransaction":
                create = _params(call, CreateParams)
                return await self._write(call, create.id, lambda context: self._create(context, create))
            case "PerformTransaction":
                perform = _params(call, IdParams)
                return await self._write(call, perform.id, lambda context: self._perform(context, perform))
            case "CancelTransaction":
                cancel = _params(call, CancelParams)
                return await self._write(call, cancel.id, lambda context: self._cancel(context, cancel))
            case "SetFiscalData":
                fiscal = _params(call, FiscalParams)
                return await self._write(call, fiscal.id, lambda context: self._fiscal(context, fiscal))
            case "ChangePassword":
                return await self._change_password(call, _params(call, PasswordParams))
            case _:
                raise PaymeError(Fault.METHOD_NOT_FOUND, call.operation)

    async def _write(self, call: GatewayCall, payme_id: str, change: Answer) -> dict[str, Any]:
        async with self._deps.uow() as uow:
            context = await _context(uow, call, self._deps.clock)
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
                answer = await change(context)
            except PaymeError as refusal:
                # A refusal may still have recorded something (a timed-out transaction canceled), and the call's log.
                await record(str(refusal.fault.code))
                raise
            await record("ok")
            return answer

    async def _create(self, context: PaymeCallContext, params: CreateParams) -> dict[str, Any]:
        known = await context.repo.find_by_detail(context.account.id, PAYME_ID, params.id)
        if known is None:
            if context.now_ms - params.time > records.TIMEOUT_MS:
                raise PaymeError(Fault.TRANSACTION_EXPIRED)  # stale from the start: nothing to record
            order = await _order(context, params.account, lock=True)
            # A twin of this call may have recorded the id while we waited for the order's lock.
            known = await context.repo.find_by_detail(context.account.id, PAYME_ID, params.id)
            if known is None:
                return records.create_result(self._attach(context, order, params))
        if records.state(known) != records.CREATED:
            raise PaymeError(Fault.CANNOT_PERFORM)
        if records.timed_out(known, context.now_ms):
            rules.expire(known, context.now, context.now_ms, records.REASON_TIMEOUT)
            raise PaymeError(Fault.TRANSACTION_EXPIRED)
        return records.create_result(known)

    def _attach(self, context: PaymeCallContext, order: Transaction, params: CreateParams) -> Transaction:
        repeat = rules.admit(order, params.amount, context.config)
        facts = records.created(params.id, params.time, params.account, context.now_ms)
        due = records.deadline(params.time)
        if not repeat:
            order.update(context.now, details=facts)
            # The scheduler expires the payment if Payme forgets it (or an earlier account limit, if any).
            order.expires_at = due if order.expires_at is None else min(order.expires_at, due)
            return order
        tx = Transaction.open(
            id=records.repeat_id(context.account.id, params.id),
            tenant_id=context.account.tenant_id,
            account_id=context.account.id,
            gateway="payme",
            money=order.money,
            details={**facts, "repeat_of": str(order.id)},
            metadata=order.metadata,
            at=context.now,
            expires_at=due,
        )
        context.repo.add(tx)
        return tx

    async def _perform(self, context: PaymeCallContext, params: IdParams) -> dict[str, Any]:
        tx = await _payme_transaction(context, params.id)
        match records.state(tx):
            case records.CREATED:
                if records.timed_out(tx, context.now_ms):
                    rules.expire(tx, context.now, context.now_ms, records.REASON_TIMEOUT)
                    raise PaymeError(Fault.TRANSACTION_EXPIRED)
                if not tx.can_move_to(TransactionStatus.COMPLETED):
                    raise PaymeError(Fault.CANNOT_PERFORM)  # closed on our side (e.g. canceled by the creator)
                tx.complete(context.now, records.performed(context.now_ms))
            case records.PERFORMED:
                pass  # performed before: the stored answer, unchanged
            case _:
                raise PaymeError(Fault.CANNOT_PERFORM)
        return records.perform_result(tx)

    async def _cancel(self, context: PaymeCallContext, params: CancelParams) -> dict[str, Any]:
        tx = await _payme_transaction(context, params.id)
        match records.state(tx):
            case records.CREATED:
                if params.reason == records.REASON_TIMEOUT:
                    rules.expire(
                        tx, context.now, context.now_ms, params.reason
                    )  # Payme's own timeout: our status is `expired`, not `canceled`
                else:
                    rules.cancel(tx, context.now, context.now_ms, params.reason)
            case records.PERFORMED:
                if not context.config.allow_cancel_after_perform:
                    raise PaymeError(Fault.CANNOT_CANCEL)
                if tx.status.is_refundable():
                    await _refund_all(context, tx, params.reason)
                tx.update(
                    context.now, details=records.canceled(context.now_ms, records.CANCELED_AFTER_PERFORM, params.reason)
                )
            case _:
                pass  # canceled before: the stored answer, unchanged
        return records.cancel_result(tx)

    async def _fiscal(self, context: PaymeCallContext, params: FiscalParams) -> dict[str, Any]:
        tx = await _payme_transaction(context, params.id)
        stored = tx.details.get("fiscal_data")
        fiscal = {**(stored if isinstance(stored, dict) else {}), params.type.lower(): params.fiscal_data}
        tx.update(context.now, details={"fiscal_data": fiscal})
        return {"success": True}

    async def _change_password(self, call: GatewayCall, params: PasswordParams) -> dict[str, Any]:
        accounts = GatewayAccounts(self._deps.engine, self._deps.cipher, call.tenant_id)
        # The credential that authenticated the call is the one replaced: a sandbox call never touches the live key.
        changed = await accounts.update(
            self._deps.registry.get("payme"), call.account_id, {params.credential: params.password}
        )
        if changed is None:
            raise PaymeError(Fault.UNAUTHORIZED)
        return {"success": True}


async def _context(uow: UnitOfWorkPort, call: GatewayCall, clock: Clock) -> PaymeCallContext:
    account = await uow.accounts(call.tenant_id).get(call.account_id)
    if account is None or account.gateway != "payme":
        raise PaymeError(Fault.UNAUTHORIZED)  # removed since the ingress checked the key
    return PaymeCallContext(uow, account, PaymeConfig.model_validate(account.config), clock())


async def _check_perform(context: PaymeCallContext, params: CheckPerformParams) -> dict[str, Any]:
    order = await _order(context, params.account, lock=False)
    rules.admit(order, params.amount, context.config)
    return records.check_perform_result(order)


async def _check(context: PaymeCallContext, params: IdParams) -> dict[str, Any]:
    return records.check_result(await _payme_transaction(context, params.id, lock=False))


async def _statement(context: PaymeCallContext, params: StatementParams) -> dict[str, Any]:
    found = await context.repo.in_detail_range(context.account.id, "payme_time", params.from_, params.to)
    return {"transactions": [records.statement_entry(tx) for tx in found]}


async def _payme_transaction(context: PaymeCallContext, payme_id: str, *, lock: bool = True) -> Transaction:
    tx = await context.repo.find_by_detail(context.account.id, PAYME_ID, payme_id, lock=lock)
    if tx is None:
        raise PaymeError(Fault.TRANSACTION_NOT_FOUND)
    return tx


async def _order(context: PaymeCallContext, account: dict[str, Any], *, lock: bool) -> Transaction:
    """The order Payme names in `account`: by the creator's value, else by our transaction id."""
    field = context.config.account_field
    value = account.get(field)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise PaymeError(Fault.ORDER_NOT_FOUND, field)
    order = await context.repo.find_by_detail(context.account.id, ("account", field), str(value), lock=lock)
    if order is None:
        order = await _by_own_id(context.repo, context.account.id, str(value), lock=lock)
    if order is None or order.gateway != "payme" or order.deleted_at is not None:
        raise PaymeError(Fault.ORDER_NOT_FOUND, field)
    return order


def _params(call: GatewayCall, model: type[ParamsT]) -> ParamsT:
    parsed = parse_params(call.operation, call.params)
    if not isinstance(parsed, model):
        raise PaymeError(Fault.INVALID_REQUEST)
    return parsed


async def _by_own_id(repo: Transactions, account_id: uuid.UUID, value: str, *, lock: bool) -> Transaction | None:
    """An order created without `details.account` is named by its own id (the checkout link says so)."""
    try:
        transaction_id = uuid.UUID(value)
    except ValueError:
        return None
    tx = await repo.get(transaction_id, lock=lock)
    if tx is None or tx.account_id != account_id or tx.details.get("account"):
        return None  # an order with its own account value answers to that value only
    return tx


async def _refund_all(context: PaymeCallContext, tx: Transaction, reason: int) -> None:
    """Payme's cancel after perform is a full refund, already paid back by Payme: requested and settled at once."""
    refunds = context.uow.refunds(context.account.tenant_id)
    refund = tx.request_refund(
        refund_id=records.refund_id(tx.id),
        amount=None,
        reason=f"Payme CancelTransaction, reason {reason}",
        in_flight=await refunds.in_flight(tx.id),
        at=context.now,
    )
    refunds.add(refund)
    tx.settle_refund(refund, context.now, provider_refund_id=str(tx.details.get("payme_id")))


def wire(deps: ProcessorDeps) -> GatewayWiring:
    return GatewayWiring(gateway="payme", calls=PaymeCalls(deps))
