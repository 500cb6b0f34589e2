"""The transactions command API: commands go to RabbitMQ, reads come from PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress import cursors
from services.ingress.auth import require
from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from services.ingress.schemas import CancelBody, CompleteBody, CreateTransactionBody, RefundBody, SearchBody
from shared.clock import utc_now
from shared.domain.details import admit_receipt, parse_details
from shared.domain.errors import DomainError, InvalidAmount, RefundExceedsRemainder
from shared.domain.money import Money
from shared.domain.status import TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import holds_payments
from shared.messages import (
    CancelTransactionMessage,
    CompleteTransactionMessage,
    CreateTransactionMessage,
    DeleteTransactionMessage,
    RequestRefundMessage,
)
from shared.persistence.idempotency import StoredAnswer, request_hash
from shared.persistence.queries import DetailCondition, InvalidQuery, ListFilters, TenantReads
from shared.security.apikeys import Permission, Principal

router = APIRouter(prefix="/v1/transactions", tags=["transactions"])
Ctx = Annotated[Ingress, Depends(ingress)]
WAIT_TIMEOUT_S = 10.0
IDEMPOTENCY_KEY = Header(alias="Idempotency-Key", max_length=255)
GatewayFilter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]
CurrencyFilter = Annotated[str | None, Query(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$")]


def _in_range(moment: datetime | None) -> datetime | None:
    """A time PostgreSQL can compare: with its offset (UTC when none is given), inside years 1..9999 in UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


Moment = Annotated[datetime | None, AfterValidator(_in_range)]


T = TypeVar("T")


def reads(ctx: Ingress, who: Principal) -> TenantReads:
    """On the primary: what a command checks, or a read that must see the caller's own writes."""
    return TenantReads(ctx.engine, who.tenant_id)


async def replica_read(ctx: Ingress, who: Principal, query: Callable[[TenantReads], Awaitable[T]]) -> T:
    """The GET queries: on the read replica when one is configured (it may be a little behind the primary)."""

    def on(engine: AsyncEngine) -> Awaitable[T]:
        return query(TenantReads(engine, who.tenant_id))

    return await ctx.read(on)


def _found(found: T | None, transaction_id: uuid.UUID) -> T:
    """What was read for a visible transaction, or 404 when the tenant has no such transaction."""
    if found is None:
        raise Problem(404, "transaction_not_found", f"no transaction {transaction_id}")
    return found


async def _visible(ctx: Ingress, who: Principal, transaction_id: uuid.UUID) -> Transaction:
    """The aggregate as recorded, on the primary: the ingress asks it what may happen next, and never writes it."""
    return _found(await reads(ctx, who).transaction(transaction_id), transaction_id)


@router.post("", status_code=202)
async def create_transaction(
    body: CreateTransactionBody,
    ctx: Ctx,
    who: Annotated[Principal, Depends(require(Permission.CREATE))],
    wait: bool = False,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None,
) -> JSONResponse:
    try:
        gateway = ctx.registry.manifest(body.gateway)
        adapter = gateway.adapter
        money = Money.positive(body.amount, body.currency)
        details = parse_details(gateway.details, body.details)
    except DomainError as exc:
        raise Problem(422, exc.code, str(exc)) from None
    account = await ctx.accounts.resolve(who.tenant_id, body.gateway, body.account_id)
    try:
        details = admit_receipt(
            gateway.details, details, money.minor, required=bool(account.config.get("fiscal_required"))
        )
    except DomainError as exc:
        raise Problem(422, exc.code, str(exc)) from None
    transaction_id = uuid.uuid4()
    # The transaction as the processor will open it, so the answer is the domain's own view of it.
    view = Transaction.pending(
        id=transaction_id,
        tenant_id=who.tenant_id,
        account_id=account.id,
        gateway=body.gateway,
        money=money,
        details=details,
        metadata=body.metadata or {},
        at=utc_now(),
        payment_url=adapter.payment_link(account, transaction_id, money, details),
    ).view()
    fingerprint = request_hash(body.model_dump(mode="json"))
    answer = StoredAnswer(fingerprint, 202, view)
    if idempotency_key:
        answer = await ctx.idempotency.first_answer(who.tenant_id, "transactions.create", idempotency_key, answer)
        if answer.request_hash != fingerprint:
            raise Problem(409, "idempotency_key_reused", "this Idempotency-Key was used with another body")
        transaction_id = uuid.UUID(answer.body["id"])
    message = CreateTransactionMessage(
        command_id=f"create:{transaction_id}",
        tenant_id=who.tenant_id,
        actor=who.actor,
        transaction_id=transaction_id,
        gateway=body.gateway,
        account_id=account.id,
        amount=money.minor,
        currency=money.currency.code,
        details=details,
        metadata=body.metadata or {},
        requested_at=datetime.fromisoformat(answer.body["created_at"].replace("Z", "+00:00")),
    )
    if not wait:
        await ctx.send(message, message.command_id)
        return JSONResponse(answer.body, status_code=answer.status)
    needs_link = adapter.starts_with_provider_call
    future = ctx.waiters.expect(
        transaction_id,
        lambda data: not needs_link or bool(data.get("payment_url")) or data["status"] != "pending",
    )
    try:
        await ctx.send(message, message.command_id)
    except Problem:
        ctx.waiters.forget(transaction_id, future)
        raise
    settled = await ctx.waiters.wait(transaction_id, future, WAIT_TIMEOUT_S)
    if settled is None:
        current = await reads(ctx, who).get(transaction_id)
        if current is not None and (not needs_link or current.get("payment_url")):
            return JSONResponse(current, status_code=201)
        return JSONResponse(current or answer.body, status_code=202)
    return JSONResponse(settled, status_code=201)  # the event carries the transaction as the API shows it


@router.get("/count")
async def count_transactions(
    ctx: Ctx,
    who: Annotated[Principal, Depends(require(Permission.VIEW))],
    status: TransactionStatus | None = None,
    gateway: GatewayFilter = None,
    currency: CurrencyFilter = None,
    created_from: Moment = None,
    created_to: Moment = None,
) -> dict[str, int]:
    filters = ListFilters(status and status.value, gateway, currency, created_from, created_to)
    return {"count": await replica_read(ctx, who, lambda r: r.count(filters))}


@router.get("")
async def list_transactions(
    ctx: Ctx,
    who: Annotated[Principal, Depends(require(Permission.VIEW))],
    status: TransactionStatus | None = None,
    gateway: GatewayFilter = None,
    currency: CurrencyFilter = None,
    created_from: Moment = None,
    created_to: Moment = None,
    sort: Literal["created_at", "-created_at", "amount", "-amount"] = "-created_at",
    page: int = Query(default=1, ge=1, le=1_000_000),
    page_size: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(
        default=None,
        description="newest first, without a total: empty for the first page, then the previous `next_cursor`",
    ),
) -> dict[str, Any]:
    filters = ListFilters(status and status.value, gateway, currency, created_from, created_to)
    if cursor is not None:
        return await replica_read(ctx, who, lambda r: _cursor_page(r, filters, sort, cursor, page_size))
    items, total = await replica_read(ctx, who, lambda r: r.page(filters, sort, page, page_size))
    return {"items": items, "page": page, "page_size": page_size, "total": total}


async def _cursor_page(
    tenant: TenantReads, filters: ListFilters, sort: str, cursor: str, page_size: int
) -> dict[str, Any]:
    """The keyset form: `{items, next_cursor}`, whose cost does not grow with the tenant's rows."""
    if sort != "-created_at":
        raise Problem(422, "invalid_cursor", "cursor pages are sorted newest first (sort=-created_at)")
    try:
        after = cursors.decode(cursor) if cursor else None
    except cursors.InvalidCursor as exc:
        raise Problem(422, "invalid_cursor", f"{exc}; start again with cursor=") from None
    items, following = await tenant.newest_after(filters, after, page_size)
    return {"items": items, "next_cursor": None if following is None else cursors.encode(following)}


@router.post("/search")
async def search_transactions(
    body: SearchBody, ctx: Ctx, who: Annotated[Principal, Depends(require(Permission.VIEW))]
) -> dict[str, Any]:
    conditions = [DetailCondition(tuple(str(p) for p in f.path), f.op, f.value) for f in body.filters]
    try:
        items = await replica_read(ctx, who, lambda r: r.search(body.gateway, conditions, body.limit))
    except InvalidQuery as exc:
        raise Problem(422, "invalid_filter", str(exc)) from None
    return {"items": items}


@router.get("/{transaction_id}")
async def get_transaction(
    transaction_id: uuid.UUID, ctx: Ctx, who: Annotated[Principal, Depends(require(Permission.VIEW))]
) -> dict[str, Any]:
    return _found(await replica_read(ctx, who, lambda r: r.transaction(transaction_id)), transaction_id).view()


def _accepted(transaction_id: uuid.UUID, command: str, command_id: str) -> JSONResponse:
    return JSONResponse(
        {
            "transaction_id": str(transaction_id),
            "command": command,
            "command_id": command_id,
            "status": "accepted",
        },
        status_code=202,
    )


@router.post("/{transaction_id}/complete", status_code=202)
async def complete_transaction(
    transaction_id: uuid.UUID,
    ctx: Ctx,
    who: Annotated[Principal, Depends(require(Permission.CREATE))],
    body: CompleteBody | None = None,
) -> JSONResponse:
    tx = await _visible(ctx, who, transaction_id)
    adapter = ctx.registry.get(tx.gateway)
    # A payment the provider holds for our decision (two-stage capture) is captured by `complete`.
    held = holds_payments(adapter) and adapter.awaits_decision(tx.status, tx.details)
    if not adapter.manual_completion and not held:
        raise Problem(409, "not_manual", f"{tx.gateway} payments are completed by the gateway itself")
    if not tx.can_move_to(TransactionStatus.COMPLETED):
        raise Problem(409, "transition_not_allowed", f"a {tx.status.value} transaction cannot be completed")
    amount = body.amount if body else None
    if amount is not None and (amount > tx.amount or (not held and amount != tx.amount)):
        limit = f"at most {tx.amount}" if held else f"only the whole amount {tx.amount}"
        raise Problem(422, "invalid_amount", f"this payment can be completed for {limit}, not {amount}")
    command_id = f"complete:{transaction_id}"
    message = CompleteTransactionMessage(
        command_id=command_id, tenant_id=who.tenant_id, actor=who.actor, transaction_id=transaction_id, amount=amount
    )
    await ctx.send(message, command_id)
    return _accepted(transaction_id, "complete", command_id)


@router.post("/{transaction_id}/cancel", status_code=202)
async def cancel_transaction(
    transaction_id: uuid.UUID,
    ctx: Ctx,
    who: Annotated[Principal, Depends(require(Permission.CANCEL))],
    body: CancelBody | None = None,
) -> JSONResponse:
    tx = await _visible(ctx, who, transaction_id)
    if not tx.can_move_to(TransactionStatus.CANCELED):
        raise Problem(409, "transition_not_allowed", f"a {tx.status.value} transaction cannot be canceled")
    command_id = f"cancel:{transaction_id}"
    message = CancelTransactionMessage(
        command_id=command_id,
        tenant_id=who.tenant_id,
        actor=who.actor,
        transaction_id=transaction_id,
        reason=body.reason if body else None,
    )
    await ctx.send(message, command_id)
    return _accepted(transaction_id, "cancel", command_id)


@router.delete("/{transaction_id}", status_code=202)
async def delete_transaction(
    transaction_id: uuid.UUID, ctx: Ctx, who: Annotated[Principal, Depends(require(Permission.CANCEL))]
) -> JSONResponse:
    tx = await _visible(ctx, who, transaction_id)
    if not tx.may_be_deleted():
        raise Problem(409, "transaction_was_paid", f"a {tx.status.value} transaction was paid and cannot be deleted")
    command_id = f"delete:{transaction_id}"
    message = DeleteTransactionMessage(
        command_id=command_id, tenant_id=who.tenant_id, actor=who.actor, transaction_id=transaction_id
    )
    await ctx.send(message, command_id)
    return _accepted(transaction_id, "delete", command_id)


@router.post("/{transaction_id}/refunds", status_code=202)
async def request_refund(
    transaction_id: uuid.UUID,
    ctx: Ctx,
    who: Annotated[Principal, Depends(require(Permission.REFUND))],
    body: RefundBody | None = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None,
) -> JSONResponse:
    body = body or RefundBody()
    tx = await _visible(ctx, who, transaction_id)
    if not tx.may_be_refunded():
        raise Problem(409, "transition_not_allowed", f"a {tx.status.value} transaction cannot be refunded")
    in_flight = await reads(ctx, who).in_flight_refunds(transaction_id)
    available = tx.refundable(in_flight)
    amount = body.amount if body.amount is not None else available
    why_not = ctx.registry.manifest(tx.gateway).capabilities.refund_refusal(amount, tx.amount, tx.refunded_amount)
    if why_not:
        raise Problem(422, "refund_not_supported", why_not)
    try:
        # Asked of the aggregate as recorded; the refunds worker asks it again under the row lock.
        view = tx.request_refund(
            refund_id=uuid.uuid4(), amount=amount, reason=body.reason, in_flight=in_flight, at=utc_now()
        ).view()
    except (RefundExceedsRemainder, InvalidAmount):
        raise Problem(
            422,
            "refund_exceeds_remainder",
            f"a refund of {amount} exceeds the refundable remainder {max(available, 0)}",
            remainder=max(available, 0),
        ) from None
    fingerprint = request_hash(body.model_dump(mode="json"))
    answer = StoredAnswer(fingerprint, 202, view)
    if idempotency_key:
        answer = await ctx.idempotency.first_answer(who.tenant_id, f"refund:{transaction_id}", idempotency_key, answer)
        if answer.request_hash != fingerprint:
            raise Problem(409, "idempotency_key_reused", "this Idempotency-Key was used with another body")
    stored = answer.body
    message = RequestRefundMessage(
        command_id=f"refund:{stored['id']}",
        tenant_id=who.tenant_id,
        actor=who.actor,
        transaction_id=transaction_id,
        refund_id=uuid.UUID(stored["id"]),
        amount=stored["amount"],
        reason=stored["reason"],
        requested_at=datetime.fromisoformat(stored["created_at"].replace("Z", "+00:00")),
    )
    await ctx.send(message, message.command_id)
    return JSONResponse(stored, status_code=answer.status)


@router.get("/{transaction_id}/refunds")
async def list_refunds(
    transaction_id: uuid.UUID, ctx: Ctx, who: Annotated[Principal, Depends(require(Permission.VIEW))]
) -> dict[str, Any]:
    async def listed(r: TenantReads) -> list[dict[str, Any]] | None:
        return None if await r.get(transaction_id) is None else await r.refunds_of(transaction_id)

    return {"items": _found(await replica_read(ctx, who, listed), transaction_id)}


@router.get("/{transaction_id}/audit")
async def audit_trail(
    transaction_id: uuid.UUID, ctx: Ctx, who: Annotated[Principal, Depends(require(Permission.VIEW))]
) -> dict[str, Any]:
    async def trail(r: TenantReads) -> list[dict[str, Any]] | None:
        return None if await r.get(transaction_id) is None else await r.audit_of(transaction_id)

    return {"items": _found(await replica_read(ctx, who, trail), transaction_id)}
