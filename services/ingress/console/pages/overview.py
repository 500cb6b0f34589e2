"""The overview: today and the last 30 days per currency and status, payments per day, what needs attention."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.ingress.console import chart
from services.ingress.console.pages.transactions import console_reads
from services.ingress.console.session import Viewer
from services.ingress.console.web import render
from shared.cli.dlq import list_parked
from shared.clock import utc_now

router = APIRouter()
log = logging.getLogger(__name__)
DAYS = 30
PARKED_LOOKUP_S = 2.0


def by_currency(rows: list[dict[str, Any]], first: date) -> dict[str, list[dict[str, Any]]]:
    """Count and amount per currency and status of the rows from `first` on, currencies and statuses sorted."""
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["day"] >= first:
            key = (row["currency"], row["status"])
            total = sums.setdefault(key, {"currency": key[0], "status": key[1], "count": 0, "amount": 0})
            total["count"] += row["count"]
            total["amount"] += row["amount"]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(sums):
        grouped.setdefault(key[0], []).append(sums[key])
    return grouped


def by_gateway(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[tuple[date, str], int] = {}
    for row in rows:
        counts[(row["day"], row["gateway"])] = counts.get((row["day"], row["gateway"]), 0) + row["count"]
    return [{"day": day, "gateway": gateway, "count": n} for (day, gateway), n in sorted(counts.items())]


async def parked_count(amqp_url: str, tenant_id: str) -> int | None:
    """This tenant's parked messages, or None when the broker does not answer in time."""
    try:
        return len(await asyncio.wait_for(list_parked(amqp_url, 1000, tenant_id), PARKED_LOOKUP_S))
    except Exception:  # the overview still shows everything else; the parked page says why
        log.warning("console: parked messages could not be counted", exc_info=True)
        return None


async def _none() -> None:
    return None


@router.get("")
async def overview(request: Request, who: Viewer) -> Response:
    zone = ZoneInfo(who.operator.timezone)
    today = datetime.combine(utc_now().astimezone(zone).date(), time.min, tzinfo=zone)
    first = today - timedelta(days=DAYS - 1)
    reads = console_reads(who)
    parked_wanted = who.operator.may("billing.gateways.manage")
    # Three independent reads on their own connections: the page takes as long as the slowest, not the sum.
    daily, attention, parked = await asyncio.gather(
        reads.per_day(first, who.operator.timezone),
        reads.attention(),
        parked_count(who.ctx.settings.amqp_url, str(who.operator.tenant_id)) if parked_wanted else _none(),
    )
    return render(
        request,
        "overview.html",
        who=who,
        today=by_currency(daily, today.date()),
        month=by_currency(daily, first.date()),
        chart=chart.per_day(by_gateway(daily), first.date(), DAYS),
        attention=attention,
        parked=parked,
    )
