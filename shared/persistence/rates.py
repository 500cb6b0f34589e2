"""Exchange rates in PostgreSQL: append-only rows (a correction is a new row), the newest of a day winning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.domain.exchange import MAX_RATE_AGE, Rate, latest_rates
from shared.persistence import driver
from shared.persistence.tables import exchange_rates, rate_fetches

WRITERS_LOCK = 7_415_020_261
"""Advisory lock key: one writer at a time compares with the newest rows and appends (imports, fetches)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What an import did: new (date, currency, quote) keys, corrections of a known one, and repeats skipped."""

    added: int
    corrected: int
    unchanged: int

    def view(self) -> dict[str, int]:
        return {"added": self.added, "corrected": self.corrected, "unchanged": self.unchanged}


def _newest_first() -> tuple[ColumnElement[Any], ...]:
    c = exchange_rates.c
    return (c.day, c.currency, c.quote, c.id.desc())


async def record_rates(engine: AsyncEngine, rates: list[Rate], *, source: str, actor: str) -> Recorded:
    """Append the rates that differ from the newest row of their key; a repeat of the same value adds nothing."""
    wanted = {(r.day, r.currency, r.quote): r for r in rates}  # within one list, the last entry of a key wins
    c = exchange_rates.c
    async with driver.core(engine, begin=True) as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITERS_LOCK})
        newest = (
            select(c.day, c.currency, c.quote, c.rate, c.nominal)
            .ext(distinct_on(c.day, c.currency, c.quote))
            .where(c.day.in_({day for day, _, _ in wanted}), c.currency.in_({cur for _, cur, _ in wanted}))
            .order_by(*_newest_first())
        )
        known = {
            (row.day, row.currency, row.quote): Fraction(row.rate) / row.nominal
            for row in (await conn.execute(newest)).all()
        }
        rows = [
            {
                "day": r.day,
                "currency": r.currency,
                "quote": r.quote,
                "rate": r.rate,
                "nominal": r.nominal,
                "source": source,
                "actor": actor,
            }
            for key, r in wanted.items()
            if known.get(key) != r.per_unit
        ]
        if rows:
            await conn.execute(insert(exchange_rates), rows)
    corrected = sum(1 for row in rows if (row["day"], row["currency"], row["quote"]) in known)
    return Recorded(added=len(rows) - corrected, corrected=corrected, unchanged=len(wanted) - len(rows))


async def rates_in_force(engine: AsyncEngine, day: date, quote: str) -> dict[str, tuple[date, Fraction]]:
    """Per currency quoted in `quote`, the rate a conversion on `day` uses (and the date it is of)."""
    c = exchange_rates.c
    query = (
        select(c.day, c.currency, c.quote, c.rate, c.nominal)
        .ext(distinct_on(c.day, c.currency, c.quote))
        .where(c.quote == quote, c.day.between(day - MAX_RATE_AGE, day))
        .order_by(*_newest_first())
    )
    async with driver.core(engine) as conn:
        rows = (await conn.execute(query)).all()
    rates = [Rate(row.day, row.currency, row.quote, row.rate, row.nominal) for row in rows]
    return latest_rates(rates, day, quote)


async def claim_fetch(engine: AsyncEngine, source: str, day: date, lease: timedelta) -> bool:
    """Claim the day's scheduled fetch of a source for this replica: False when it is done, or another replica
    claimed it less than `lease` ago (a claim that old belongs to a replica that crashed or failed)."""
    statement = (
        pg_insert(rate_fetches)
        .values(source=source, day=day)
        .on_conflict_do_update(
            index_elements=[rate_fetches.c.source, rate_fetches.c.day],
            set_={"claimed_at": func.now()},
            where=rate_fetches.c.done_at.is_(None) & (rate_fetches.c.claimed_at < func.now() - lease),
        )
        .returning(rate_fetches.c.day)
    )
    async with driver.core(engine, begin=True) as conn:
        return (await conn.execute(statement)).first() is not None


async def fetch_done(engine: AsyncEngine, source: str, day: date) -> bool:
    query = select(rate_fetches.c.done_at).where(rate_fetches.c.source == source, rate_fetches.c.day == day)
    async with driver.core(engine) as conn:
        return (await conn.execute(query)).scalar() is not None


async def finish_fetch(engine: AsyncEngine, source: str, day: date, outcome: str) -> None:
    statement = (
        update(rate_fetches)
        .where(rate_fetches.c.source == source, rate_fetches.c.day == day)
        .values(done_at=func.now(), outcome=outcome[:500])
    )
    async with driver.core(engine, begin=True) as conn:
        await conn.execute(statement)
