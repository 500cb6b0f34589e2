"""A managed PostgreSQL's TLS option in BILLING_DATABASE_URL reaches both drivers in the form each reads."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text

from shared.persistence.database import create_engine, current_heads, raw_dsn
from shared.settings import Settings


def test_the_sqlalchemy_ssl_option_becomes_asyncpgs_sslmode() -> None:
    url = "postgresql+asyncpg://billing:p%40ss@db.example.internal:5432/billing?ssl=require"
    assert raw_dsn(url) == "postgresql://billing:p%40ss@db.example.internal:5432/billing?sslmode=require"
    assert raw_dsn(url, "postgres").endswith("/postgres?sslmode=require")
    assert raw_dsn("postgresql+asyncpg://u@h/db?sslmode=verify-full") == "postgresql://u@h/db?sslmode=verify-full"


async def test_one_url_with_a_tls_option_serves_the_engine_listen_and_migrations(settings: Settings) -> None:
    url = f"{settings.database_url}?ssl=disable"  # the local server has no TLS; the option still has to parse
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()
    listener = await asyncpg.connect(raw_dsn(url))
    await listener.close()
    assert await current_heads(url), "the schema of the session database is visible through the same URL"
