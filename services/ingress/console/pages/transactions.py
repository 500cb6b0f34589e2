"""Transactions: the filtered list (with CSV export), one transaction with its trail, and its actions."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingress.console import actions, paging
from services.ingress.console.session import NotFoundHere, SignedIn, Viewer, allowed, checked_form, field
from services.ingress.console.web import render, translate
from shared.domain.errors import DomainError
from shared.domain.money import Currency, Money
from shared.domain.status import TransactionStatus
from shared.persistence.console_reads import CSV_HEADER, ConsoleReads, TransactionFilters, csv_row
from shared.persistence.queries import TenantReads
from shared.security.apikeys import Permission

router = APIRouter()
PAGE_SIZE = 50
STATUSES = [status.value for status in TransactionStatus]


def references(who: SignedIn) -> list[str]:
    """The gateway reference fields a search looks in, as the registry's gateways declare them."""
    registry = who.ctx.registry
    return sorted({ref for m in registry.manifests() if m.details is not None for ref in m.details.references})


def console_reads(who: SignedIn, engine: AsyncEngine | None = None) -> ConsoleReads:
    """On the primary unless `engine` says otherwise (the lists pass the read replica's, see `Ingress.read`)."""
    return ConsoleReads(engine or who.ctx.engine, who.operator.tenant_id, references(who))


def _day(value: str, zone: ZoneInfo, next_day: bool = False) -> datetime | None:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime.combine(day + timedelta(days=1 if next_day else 0), time.min, tzinfo=zone)


def _minor(value: str, currency: str | None) -> int | None:
    """A bound typed in major units ('1500.50'); with no currency chosen, read with two decimals."""
    try:
        major = Decimal(value.replace(" ", "").replace(",", "."))
    except InvalidOperation:
        return None
    try:
        exponent = Currency.of(currency).exponent if currency else 2
    except DomainError:
        exponent = 2
    return int(major.scaleb(exponent).to_integral_value())


def filters_of(request: Request, who: SignedIn) -> tuple[TransactionFilters, dict[str, str]]:
    """The list's filters from the query string; what cannot be read is dropped, the form shows what was typed."""
    raw = {key: request.query_params.get(key, "").strip() for key in FILTER_FIELDS}
    zone = ZoneInfo(who.operator.timezone)
    currency = raw["currency"].upper() or None
    account: uuid.UUID | None = None
    try:
        account = uuid.UUID(raw["account_id"]) if raw["account_id"] else None
    except ValueError:
        account = None
    return (
        TransactionFilters(
            status=raw["status"] if raw["status"] in STATUSES else None,
            gateway=raw["gateway"] or None,
            account_id=account,
            currency=currency,
            created_from=_day(raw["created_from"], zone) if raw["created_from"] else None,
            created_to=_day(raw["created_to"], zone, next_day=True) if raw["created_to"] else None,
            amount_min=_minor(raw["amount_min"], currency) if raw["amount_min"] else None,
            amount_max=_minor(raw["amount_max"], currency) if raw["amount_max"] else None,
            q=raw["q"] or None,
        ),
        raw,
    )


FILTER_FIELDS = (
    "q",
    "status",
    "gateway",
    "account_id",
    "currency",
    "created_from",
    "created_to",
    "amount_min",
    "amount_max",
)


@router.get("/transactions")
async def transactions_list(request: Request, who: Viewer) -> Response:
    filters, raw = filters_of(request, who)
    window, notice = paging.requested_window(request, PAGE_SIZE)
    page = await who.ctx.read(lambda engine: console_reads(who, engine).transactions_page(filters, window, PAGE_SIZE))
    query = {k: v for k, v in raw.items() if v}
    return render(
        request,
        "transactions.html",
        who=who,
        notice=notice,
        items=page.items,
        pager=paging.pager(page, query),
        raw=raw,
        query=query,
        statuses=STATUSES,
        gateways=who.ctx.registry.names(),
        accounts=await console_reads(who).account_ids(),
        references=references(who),
    )


@router.get("/transactions/export.csv")
async def transactions_export(request: Request, who: Viewer) -> Response:
    filters, _ = filters_of(request, who)
    reads = console_reads(who)

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        async for view in reads.transactions_export(filters):
            writer.writerow(csv_row(view))
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="transactions.csv"'},
    )


async def visible(who: SignedIn, transaction_id: str) -> dict[str, Any]:
    """The transaction if it is this tenant's; another tenant's id is the same 404 as an absent one."""
    try:
        parsed = uuid.UUID(transaction_id)
    except ValueError:
        raise NotFoundHere from None
    tx = await TenantReads(who.ctx.engine, who.operator.tenant_id).get(parsed)
    if tx is None:
        raise NotFoundHere
    return tx


def differences(before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """An audit entry as the fields it changed: (field, before, after)."""
    before = before or {}
    keys = sorted(set(before) | set(after))
    return [(key, before.get(key), after.get(key)) for key in keys if before.get(key) != after.get(key)]


async def _detail(request: Request, who: SignedIn, tx: dict[str, Any], **extra: Any) -> Response:
    reads = TenantReads(who.ctx.engine, who.operator.tenant_id)
    transaction_id = uuid.UUID(tx["id"])
    audit = [
        {**entry, "changes": differences(entry["before"], entry["after"])}
        for entry in await reads.audit_of(transaction_id)
    ]
    capabilities = who.ctx.registry.manifest(tx["gateway"]).capabilities
    remainder = await actions.refundable_remainder(who.ctx, who.operator, tx)
    return render(
        request,
        "transaction.html",
        who=who,
        tx=tx,
        audit=audit,
        refunds=await reads.refunds_of(transaction_id),
        can_complete=who.operator.may(Permission.CREATE.value) and actions.can_complete(who.ctx, tx),
        can_cancel=who.operator.may(Permission.CANCEL.value) and tx["status"] == "pending",
        can_refund=who.operator.may(Permission.REFUND.value)
        and actions.refund_refusal(who.ctx, tx) is None
        and remainder > 0,
        partial_refunds=capabilities.partial_refunds,
        remainder=remainder,
        exponent=Currency.of(tx["currency"]).exponent,
        **{"error": None, "done": request.query_params.get("done"), **extra},
    )


@router.get("/transactions/{transaction_id}")
async def transaction_page(request: Request, transaction_id: str, who: Viewer) -> Response:
    return await _detail(request, who, await visible(who, transaction_id))


def _back(tx: dict[str, Any], done: str) -> Response:
    return RedirectResponse(f"/console/transactions/{tx['id']}?done={done}", status_code=303)


@router.post("/transactions/{transaction_id}/complete")
async def complete(
    request: Request, transaction_id: str, who: Annotated[SignedIn, Depends(allowed(Permission.CREATE))]
) -> Response:
    await checked_form(request, who)
    tx = await visible(who, transaction_id)
    try:
        await actions.complete(who.ctx, who.operator, tx)
    except actions.Refused as exc:
        return await _detail(request, who, tx, error=translate(request, exc.message))
    return _back(tx, "complete")


@router.post("/transactions/{transaction_id}/cancel")
async def cancel(
    request: Request, transaction_id: str, who: Annotated[SignedIn, Depends(allowed(Permission.CANCEL))]
) -> Response:
    form = await checked_form(request, who)
    tx = await visible(who, transaction_id)
    try:
        await actions.cancel(who.ctx, who.operator, tx, field(form, "reason"))
    except actions.Refused as exc:
        return await _detail(request, who, tx, error=translate(request, exc.message))
    return _back(tx, "cancel")


@router.post("/transactions/{transaction_id}/refund")
async def refund(
    request: Request, transaction_id: str, who: Annotated[SignedIn, Depends(allowed(Permission.REFUND))]
) -> Response:
    """First post: the confirmation page (what will happen); the confirmed post sends the refund command."""
    form = await checked_form(request, who)
    tx = await visible(who, transaction_id)
    typed = field(form, "amount")
    reason = field(form, "reason")
    try:
        amount = Money.from_major(typed.replace(" ", "").replace(",", "."), tx["currency"]).minor if typed else None
    except (DomainError, InvalidOperation, ValueError):
        return await _detail(request, who, tx, error=translate(request, "The amount is not a number of this currency."))
    try:
        amount = await actions.check_refund(who.ctx, who.operator, tx, amount)
        if field(form, "confirm") != "yes":
            remainder = await actions.refundable_remainder(who.ctx, who.operator, tx)
            return render(
                request,
                "refund_confirm.html",
                who=who,
                tx=tx,
                amount=amount,
                major=Money.of(amount, tx["currency"]).major_str(),
                after=tx["refunded_amount"] + amount,
                left=remainder - amount,
                reason=reason,
                refund_id=str(uuid.uuid4()),
            )
        try:
            refund_id = uuid.UUID(field(form, "refund_id"))
        except ValueError:
            refund_id = uuid.uuid4()
        await actions.refund(who.ctx, who.operator, tx, amount, reason, refund_id)
    except actions.Refused as exc:
        return await _detail(request, who, tx, error=translate(request, exc.message))
    return _back(tx, "refund")
