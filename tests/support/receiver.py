"""A merchant's webhook endpoint on 127.0.0.1 (aiohttp): records every request and answers as scripted."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.system import free_port


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay_s: float = 0.0
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    arrived: float
    answered: float | None = None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """Answers the n-th request with `script[n]`, and every later one with `then`."""

    script: list[Answer] = field(default_factory=list)
    then: Answer = field(default_factory=Answer)
    requests: list[Request] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _port: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hooks/billing"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hooks/billing", self._handle)
        # Cancelled when the caller hangs up, as a real server's worker would stop caring.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        self._port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        seen = Request(
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
            arrived=time.monotonic(),
        )
        index = len(self.requests)
        self.requests.append(seen)
        async with self._arrived:
            self._arrived.notify_all()
        answer = self.script[index] if index < len(self.script) else self.then
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        seen.answered = time.monotonic()
        return web.Response(status=answer.status, body=answer.body, headers=dict(answer.headers))

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Request]:
        """Wait until at least `count` requests arrived; the requests so far."""
        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), timeout)
            except TimeoutError:
                raise AssertionError(f"{len(self.requests)} of {count} requests arrived within {timeout} s") from None
        return list(self.requests)
