"""Load that counts: cash payments and Payme cycles through one address, as clients that retry do.

A cash payment: create (`?wait=true`, an Idempotency-Key, repeated with the same key after a 5xx or a lost
answer) then complete (repeated likewise; a 409 after a lost answer means it was completed). A Payme cycle opens
an order through the API, then Check, Create and Perform, each sent twice: the repeat must get the same answer.
Payme's "retry later" (-32400, what the ingress answers when the processor did not answer in time) is retried,
as Payme does; only settled answers are compared. Every outcome is counted, nothing is assumed.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.payme import KEY

RETRIES = 120
RETRY_PAUSE_S = 0.5
SYSTEM_ERROR = -32400
AMOUNT = 150_000
PAYME_AMOUNT = 1_500_000


@dataclass
class Tally:
    """What the load saw: accepted ids, retries by reason, Payme mismatches, read answers."""

    accepted: set[str] = field(default_factory=set)
    completed_accepted: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)
    retries: collections.Counter[str] = field(default_factory=collections.Counter)
    payme_orders: set[str] = field(default_factory=set)
    payme_performed: set[str] = field(default_factory=set)
    payme_mismatches: list[str] = field(default_factory=list)
    payme_calls: int = 0
    reads: collections.Counter[int] = field(default_factory=collections.Counter)
    cash_done: int = 0
    payme_done: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started


def http_session(base_url: str, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=base_url,
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=30.0),
    )


async def _post(
    http: aiohttp.ClientSession, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, Any]:
    try:
        async with http.post(path, json=body, headers=headers) as answer:
            return answer.status, await answer.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return 0, type(exc).__name__


async def _until(
    tally: Tally, step: str, attempt: Callable[[], Awaitable[tuple[int, Any]]], done: Callable[[int, Any], bool]
) -> tuple[int, Any] | None:
    """Repeat a step until `done` says its answer settles it; count every repeat under its reason."""
    for _ in range(RETRIES):
        status, body = await attempt()
        if done(status, body):
            return status, body
        code = _reason(body)
        tally.retries[f"{step}: {status} {code}"] += 1
        await asyncio.sleep(RETRY_PAUSE_S)
    return None


def _reason(body: Any) -> Any:
    """A problem's code, a Payme error's code, or the transport error's name."""
    if not isinstance(body, dict):
        return body
    error = body.get("error")
    return error.get("code") if isinstance(error, dict) else body.get("code")


async def create(
    http: aiohttp.ClientSession, tally: Tally, auth: dict[str, str], body: dict[str, Any], step: str
) -> str | None:
    """POST /v1/transactions?wait=true until a 2xx; the same Idempotency-Key every time."""
    headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    settled = await _until(
        tally,
        step,
        lambda: _post(http, "/v1/transactions?wait=true", body, headers),
        lambda status, _: status in (201, 202),
    )
    if settled is None:
        tally.failed.append(f"{step}: never accepted")
        return None
    transaction_id: str = settled[1]["id"]
    tally.accepted.add(transaction_id)
    return transaction_id


async def cash_payment(http: aiohttp.ClientSession, tally: Tally, auth: dict[str, str], account_id: str) -> None:
    body = {"gateway": "cash", "account_id": account_id, "amount": AMOUNT, "currency": "UZS"}
    transaction_id = await create(http, tally, auth, body, "cash create")
    if transaction_id is None:
        return

    def completed(status: int, answer: Any) -> bool:
        # 404: a create answered 202 (its wait timed out) may not be processed yet. 409 transition_not_allowed:
        # an earlier attempt whose answer was lost completed it.
        code = answer.get("code") if isinstance(answer, dict) else None
        return status == 202 or (status == 409 and code == "transition_not_allowed")

    path = f"/v1/transactions/{transaction_id}/complete"
    if await _until(tally, "cash complete", lambda: _post(http, path, {}, auth), completed) is None:
        tally.failed.append(f"{transaction_id}: complete never accepted")
        return
    tally.completed_accepted.add(transaction_id)
    tally.cash_done += 1


def payme_auth() -> str:
    return "Basic " + base64.b64encode(f"Paycom:{KEY}".encode()).decode()


async def payme_cycle(
    http: aiohttp.ClientSession, tally: Tally, auth: dict[str, str], account_id: str, number: int
) -> None:
    reference = f"cluster-{number}-{secrets.token_hex(4)}"
    account = {"order_id": reference}
    order = {
        "gateway": "payme",
        "account_id": account_id,
        "amount": PAYME_AMOUNT,
        "currency": "UZS",
        "details": {"account": account},
    }
    transaction_id = await create(http, tally, auth, order, "payme order")
    if transaction_id is None:
        return
    tally.payme_orders.add(transaction_id)
    payme_id = secrets.token_hex(12)
    calls = [
        ("CheckPerformTransaction", {"amount": PAYME_AMOUNT, "account": account}),
        (
            "CreateTransaction",
            {"id": payme_id, "time": int(time.time() * 1000), "amount": PAYME_AMOUNT, "account": account},
        ),
        ("PerformTransaction", {"id": payme_id}),
    ]
    headers = {"Authorization": payme_auth()}
    path = f"/webhooks/payme/{account_id}"
    for rpc_id, (method, params) in enumerate(calls, start=1):
        request = {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}
        answers = []

        def send(sent: dict[str, Any] = request) -> Awaitable[tuple[int, Any]]:
            return _post(http, path, sent, headers)

        for repeat in ("first", "repeat"):
            settled = await _until(tally, f"payme {method}", send, _payme_settled)
            tally.payme_calls += 1
            if settled is None:
                tally.failed.append(f"{transaction_id}: {method} ({repeat}) never answered")
                return
            answers.append(settled[1])
        if answers[0] != answers[1]:
            tally.payme_mismatches.append(f"{method} {transaction_id}: {answers[0]} then {answers[1]}")
        if "error" in answers[0]:
            tally.failed.append(f"{transaction_id}: {method} answered {answers[0]['error']}")
            return
    tally.payme_performed.add(transaction_id)
    tally.payme_done += 1


def _payme_settled(status: int, answer: Any) -> bool:
    """An answer of Payme's protocol that is not "retry later"."""
    if status != 200 or not isinstance(answer, dict):
        return False
    error = answer.get("error")
    return not (isinstance(error, dict) and error.get("code") == SYSTEM_ERROR)


async def reader(http: aiohttp.ClientSession, tally: Tally, auth: dict[str, str], stop: asyncio.Event) -> None:
    """The read side while it all happens: a list and a count every 100 ms; every answer's status is counted.

    A request lost on the way (a keep-alive connection the server closed as it was reused) is sent again, as
    any client does with a GET, and counted among the retries."""
    while not stop.is_set():
        for path in ("/v1/transactions?page_size=20", "/v1/transactions/count"):

            def read(sent: str = path) -> Awaitable[tuple[int, Any]]:
                return _get(http, sent, auth)

            settled = await _until(tally, "read", read, lambda status, _: status > 0)
            tally.reads[settled[0] if settled else 0] += 1
        await asyncio.sleep(0.1)


async def _get(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    try:
        async with http.get(path, headers=headers) as answer:
            await answer.read()
            return answer.status, None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return 0, type(exc).__name__


async def bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    """`count` runs of `one`, at most `concurrency` at a time."""
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            await one(number)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_load(
    base_url: str,
    auth: dict[str, str],
    cash_account: str,
    payme_account: str,
    cash: int,
    payme: int,
    tally: Tally | None = None,
    concurrency: int = 24,
) -> Tally:
    """`cash` payments and `payme` cycles side by side, plus the reader; returns what was counted."""
    tally = tally or Tally()
    stop = asyncio.Event()
    async with http_session(base_url, concurrency + 8) as http:
        reading = asyncio.create_task(reader(http, tally, auth, stop))
        await asyncio.gather(
            bounded(cash, concurrency, lambda _: cash_payment(http, tally, auth, cash_account)),
            bounded(payme, max(1, concurrency // 3), lambda n: payme_cycle(http, tally, auth, payme_account, n)),
        )
        tally.finished = time.perf_counter()
        stop.set()
        await reading
    return tally
