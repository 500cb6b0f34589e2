"""Per-payment API sources: bounded concurrency that still streams, and failures that stop everything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from shared.reconciliation.per_payment import ask_each


@dataclass
class Stream:
    """A ledger stand-in that counts what was taken from it and whether it was closed."""

    size: int
    taken: int = 0
    closed: bool = False
    items: AsyncIterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self.items = self._items()

    async def _items(self) -> AsyncIterator[int]:
        try:
            for number in range(self.size):
                self.taken += 1
                yield number
        finally:
            self.closed = True


async def test_every_answer_arrives_and_none_means_no_record() -> None:
    stream = Stream(50)

    async def ask(number: int) -> int | None:
        await asyncio.sleep(0.001 * (number % 3))  # answers arrive out of order
        return None if number % 10 == 0 else number * 2

    answers = [answer async for answer in ask_each(stream.items, ask, limit=8)]

    assert sorted(answers) == [n * 2 for n in range(50) if n % 10 != 0]
    assert stream.closed


async def test_no_more_than_the_limit_is_in_flight_and_the_stream_is_read_as_slots_free() -> None:
    stream = Stream(10_000)
    in_flight = peak = 0
    release = asyncio.Event()

    async def ask(number: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return number

    answers = ask_each(stream.items, ask, limit=8)

    async def first_answer() -> int:
        return await anext(answers)

    first = asyncio.create_task(first_answer())
    await asyncio.sleep(0.05)
    assert (stream.taken, in_flight) == (8, 8), "only as many payments as call slots are taken from the ledger"
    release.set()
    await first
    count = 1
    async for _ in answers:
        count += 1
        assert stream.taken - count <= 8, "the whole period is never collected"
    assert count == 10_000 and peak == 8


async def test_the_first_failure_cancels_the_calls_in_flight_and_closes_the_stream() -> None:
    stream = Stream(100)
    cancelled: list[int] = []

    async def ask(number: int) -> int:
        if number == 3:
            raise RuntimeError("processor unavailable")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(number)
            raise
        return number

    with pytest.raises(RuntimeError, match="processor unavailable"):
        async for _ in ask_each(stream.items, ask, limit=4):
            pass

    assert sorted(cancelled) == [0, 1, 2], "the others in flight are cancelled, nothing more is taken"
    assert stream.closed and stream.taken == 4


async def test_a_consumer_that_stops_early_leaves_nothing_running() -> None:
    stream = Stream(100)
    started: list[int] = []
    calls: list[asyncio.Task[object]] = []

    async def ask(number: int) -> int:
        started.append(number)
        task = asyncio.current_task()
        assert task is not None
        calls.append(task)
        await asyncio.sleep(0.01 if number == 0 else 10)
        return number

    answers = ask_each(stream.items, ask, limit=3)
    assert await anext(answers) == 0
    await answers.aclose()

    assert stream.closed and started == [0, 1, 2]
    assert all(call.done() for call in calls), "the calls still in flight were cancelled"


async def test_the_limit_must_allow_a_call() -> None:
    async def echo(number: int) -> int:
        return number

    with pytest.raises(ValueError, match="at least 1"):
        await anext(ask_each(Stream(1).items, echo, limit=0))
