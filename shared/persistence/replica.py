"""Read-only queries on a streaming replica (BILLING_DATABASE_READ_URL), and on the primary while it is away.

A replica may lag behind the primary: only queries that need not see the caller's own latest writes go there
(docs/design.md lists them). A replica that is stopped, unreachable or fails the query costs that attempt, then
the query runs on the primary: reads keep working, at the primary's expense.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import metrics
from shared.persistence import driver
from shared.persistence.errors import DatabaseUnavailable

T = TypeVar("T")
UNREACHABLE = (DatabaseUnavailable, *driver.LOST, TimeoutError, OperationalError, InterfaceError)
"""What a stopped, restarting or unreachable replica raises (a query it cancels to replay the primary's changes
too): DatabaseUnavailable from the repositories, the drivers' own errors elsewhere."""

log = logging.getLogger(__name__)


async def read(primary: AsyncEngine, replica: AsyncEngine | None, query: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run a read-only query on the replica if there is one, on the primary if there is none or it failed."""
    if replica is None:
        return await query(primary)
    try:
        return await query(replica)
    except UNREACHABLE as exc:
        log.warning("read replica unavailable, reading from the primary", extra={"error": repr(exc)[:300]})
        metrics.REPLICA_FALLBACKS.inc()
        return await query(primary)
