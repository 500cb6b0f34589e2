"""The exchange rates in force on a date, as conversions use them (kept by the service's operator)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from services.ingress.auth import principal
from services.ingress.context import Ingress, ingress
from services.ingress.problems import Problem
from shared.clock import utc_now
from shared.domain.errors import UnknownCurrency
from shared.domain.exchange import show_rate
from shared.domain.money import Currency
from shared.persistence.rates import rates_in_force
from shared.security.apikeys import Principal

router = APIRouter(prefix="/v1/exchange-rates", tags=["exchange rates"])


class RatesView(BaseModel):
    date: str = Field(description="the date asked for, YYYY-MM-DD")
    quote: str = Field(description="the quote currency")
    rates: dict[str, str] = Field(description="per currency, quote units for one unit, as a decimal string")


@router.get("")
async def exchange_rates(
    ctx: Annotated[Ingress, Depends(ingress)],
    who: Annotated[Principal, Depends(principal)],
    on: Annotated[date | None, Query(alias="date", description="YYYY-MM-DD (UTC); today when absent")] = None,
    quote: Annotated[str, Query(min_length=3, max_length=3)] = "UZS",
) -> RatesView:
    """Per currency, quote-currency units for one unit: the rate of the latest date on or before `date`
    (within 7 days), the rate a conversion on that date uses."""
    try:
        quote = Currency.of(quote.upper()).code
    except UnknownCurrency as exc:
        raise Problem(422, exc.code, str(exc)) from None
    day = on or utc_now().date()
    found = await rates_in_force(ctx.engine, day, quote)
    rates = {code: show_rate(rate) for code, (_, rate) in sorted(found.items())}
    return RatesView(date=day.isoformat(), quote=quote, rates=rates)
