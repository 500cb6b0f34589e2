"""API sources that ask the processor about each of our payments: a few calls at a time, still streaming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")

CONCURRENCY = 8
"""Status calls in flight at once per run: enough to hide the processor's latency, few enough to be polite."""


async def ask_each(
    items: AsyncIterator[Item],
    ask: Callable[[Item], Coroutine[Any, Any, Answer | None]],
    limit: int = CONCURRENCY,
) -> AsyncGenerator[Answer, None]:
    """`ask(item)` for every item, at most `limit` at a time, yielding each answer (None: nothing) as it arrives.

    An item is taken from the stream only when a call slot is free, so no more than `limit` items are held at once
    however long the stream is. The first failure cancels the calls in flight and is raised to the consumer.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    in_flight: set[asyncio.Task[Answer | None]] = set()
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) < limit:
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    exhausted = True
                else:
                    in_flight.add(asyncio.create_task(ask(item)))
            if not in_flight:
                return
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            answers: list[Answer] = []
            failure: BaseException | None = None
            for task in done:  # every finished task is read, so no failure goes unretrieved
                error = task.exception()
                if error is not None:
                    failure = failure or error
                    continue
                answer = task.result()
                if answer is not None:
                    answers.append(answer)
            if failure is not None:
                raise failure
            for answer in answers:
                yield answer
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()  # e.g. the ledger's server-side cursor
