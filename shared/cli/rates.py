"""`billing rates`: the operator's exchange rates, imported from a file or set one by one."""

from __future__ import annotations

import getpass
from typing import Any

from shared.cli.main import fail
from shared.domain.exchange import InvalidRate, Rate
from shared.persistence.database import create_engine
from shared.persistence.rates import record_rates
from shared.rates.formats import parse, parse_day
from shared.settings import Settings


def operator() -> str:
    """Who changed the rates, for the rows' `actor`: the operating-system user at the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def import_rates(config: Settings, body: bytes, form: str, source: str) -> dict[str, Any]:
    try:
        rates = parse(body, form)
    except InvalidRate as exc:
        fail(str(exc))
    return await _record(config, rates, source)


async def set_rate(config: Settings, on: str, currency: str, rate: str, quote: str) -> dict[str, Any]:
    try:
        one = Rate.of(parse_day(on, "--date"), currency, quote, rate)
    except InvalidRate as exc:
        fail(str(exc))
    return await _record(config, [one], "manual")


async def _record(config: Settings, rates: list[Rate], source: str) -> dict[str, Any]:
    engine = create_engine(config.database_url, pool_size=1)
    try:
        recorded = await record_rates(engine, rates, source=source, actor=operator())
    finally:
        await engine.dispose()
    days = sorted({rate.day.isoformat() for rate in rates})
    return {**recorded.view(), "dates": days, "source": source}
