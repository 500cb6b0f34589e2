"""PostgreSQL's LISTEN/NOTIFY: a connection of its own that hears a channel, and a watch that keeps it open.

Triggers NOTIFY at commit (migrations 0012 and 0090): the outbox relay wakes on `billing_outbox`; caches of rows
that rarely change (reporting currencies and rates) are dropped on theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import asyncpg

from shared.persistence.errors import DatabaseUnavailable, translated

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

OUTBOX_CHANNEL = "billing_outbox"
REPORTING_CHANNEL = "billing_reporting"
"""Tenants (their reporting currency) and exchange rates changed."""
CONNECT_TIMEOUT_S = 5.0


class Listener:
    """A connection LISTENing on one channel."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    def is_closed(self) -> bool:
        return bool(self._connection.is_closed())

    async def close(self) -> None:
        with translated():
            await self._connection.close()


async def listen(dsn: str, channel: str, heard: Callable[[], None], timeout_s: float = CONNECT_TIMEOUT_S) -> Listener:
    """Call `heard` at each commit that notified `channel`; DatabaseUnavailable if PostgreSQL cannot be reached."""
    try:
        with translated():
            connection = await asyncpg.connect(dsn, timeout=timeout_s)
            await connection.add_listener(channel, lambda *_: heard())
    except TimeoutError as exc:
        raise DatabaseUnavailable(f"no connection within {timeout_s} s") from exc
    return Listener(connection)


class Watch:
    """Keeps a LISTEN on `channel` open, reconnecting after PostgreSQL dropped it, and says when it listens.

    `listening(True)` comes once the LISTEN is in place (what was committed before it can be read now, and every
    later change will be heard); `listening(False)` as soon as it is lost: whoever caches must stop trusting
    the cache until the next `listening(True)`, since changes in between are not heard.
    """

    def __init__(
        self,
        dsn: str,
        channel: str,
        heard: Callable[[], None],
        listening: Callable[[bool], None],
        *,
        retry_s: float = 5.0,
        check_s: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._heard = heard
        self._listening = listening
        self._retry_s = retry_s
        self._check_s = check_s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                listener = await listen(self._dsn, self._channel, self._heard)
            except DatabaseUnavailable as exc:
                log.warning("cannot LISTEN on %s: %s", self._channel, exc)
                await _wait(stop, self._retry_s)
                continue
            self._listening(True)
            try:
                while not stop.is_set() and not listener.is_closed():
                    await _wait(stop, self._check_s)
            finally:
                self._listening(False)
                if not listener.is_closed():
                    with contextlib.suppress(DatabaseUnavailable):
                        await listener.close()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class NoticedCache(Generic[K, V]):
    """Values read from PostgreSQL, kept only while a Watch listens on the channel their rows notify.

    Every notice drops them all; so does losing the LISTEN (changes would go unheard), and until it is back
    nothing is kept. A value read before a notice and stored after it would be stale: each read carries the
    generation it started in, and is kept only if no notice came meanwhile.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[K, V] = {}
        self._generation = 0
        self._trusted = False
        self._max_entries = max_entries

    @property
    def trusted(self) -> bool:
        return self._trusted

    def heard(self) -> None:
        self._generation += 1
        self._entries.clear()

    def listening(self, now: bool) -> None:
        self._trusted = now
        self.heard()

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        if self._trusted and key in self._entries:
            return self._entries[key]
        generation = self._generation
        value = await load()
        if self._trusted and generation == self._generation:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = value
        return value

    def watch(self, dsn: str, channel: str) -> Watch:
        """The watch that keeps this cache honest: run it as a background task."""
        return Watch(dsn, channel, self.heard, self.listening)
