"""Engines, database creation and migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # A fixed pool: overflow connections are closed on return, and opening one per request costs more than
    # the request (TLS negotiation, authentication); waiting briefly for a pooled one is cheaper.
    return create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_pre_ping=False)


def raw_dsn(url: str, database: str | None = None) -> str:
    """The asyncpg DSN of a SQLAlchemy URL (optionally for another database)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    if "ssl" in parsed.query and "sslmode" not in parsed.query:
        # SQLAlchemy's asyncpg dialect takes `?ssl=require`; asyncpg's own DSN parser reads `ssl` as a server
        # setting (and fails), so managed PostgreSQL behind TLS needs the translation for LISTEN and migrations.
        query = {k: v for k, v in parsed.query.items() if k != "ssl"}
        parsed = parsed.set(query={**query, "sslmode": parsed.query["ssl"]})
    return parsed.render_as_string(hide_password=False)


async def create_database_if_missing(url: str) -> bool:
    name = make_url(url).database or "billing"
    conn = await asyncpg.connect(raw_dsn(url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> list[str]:
    """Apply every pending migration (synchronously); returns the revisions applied, oldest first."""
    from alembic.script import ScriptDirectory

    config = alembic_config(url)
    before = asyncio.run(current_heads(url))
    command.upgrade(config, "head")
    after = asyncio.run(current_heads(url))
    if before == after:
        return []
    script = ScriptDirectory.from_config(config)
    applied = [f"{rev.revision} {rev.doc}" for rev in script.iterate_revisions(after, before or "base")]
    return list(reversed(applied))


async def current_heads(url: str) -> tuple[str, ...]:
    conn = await asyncpg.connect(raw_dsn(url))
    try:
        if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            return ()
        rows = await conn.fetch("SELECT version_num FROM alembic_version")
        return tuple(sorted(row[0] for row in rows))
    finally:
        await conn.close()
