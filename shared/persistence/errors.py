"""One error for every failure of the database drivers, whichever of the two raised it."""

from __future__ import annotations

from types import TracebackType

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class DatabaseUnavailable(Exception):
    """PostgreSQL refused, dropped or could not take a statement; the driver's own error is the `__cause__`.

    Each edge maps it to its own answer: the API `503`, a gateway its "system error, retry", a command a retry.
    """


DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    DBAPIError,
    PoolTimeout,
    OSError,
)
"""asyncpg's errors, SQLAlchemy's wrappers of them (and its pool's timeout), and a connection that failed."""


def as_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The DatabaseUnavailable a driver error becomes; None for anything else (our own bugs stay themselves)."""
    if isinstance(exc, DRIVER_ERRORS) and not isinstance(exc, DatabaseUnavailable):
        unavailable = DatabaseUnavailable(" ".join(str(exc).split())[:500] or type(exc).__name__)
        unavailable.__cause__ = exc
        return unavailable
    return None


class translated:
    """Re-raise a driver error leaving this block as DatabaseUnavailable."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None and (unavailable := as_unavailable(exc)) is not None:
            raise unavailable from exc
