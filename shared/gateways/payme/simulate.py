"""Payme's side of a sandbox run, played over HTTP against a running service (`billing simulate payme`)."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.cli.simulation import Check, Simulation
from shared.gateways.payme.protocol import basic_header

AMOUNT = 1_500_000  # 15 000 UZS in tiyin, as in gateways.md's happy path


def payme_id() -> str:
    return secrets.token_hex(12)  # Payme's ids are 24 characters


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class PaymeSide:
    """Payme's half of the protocol: numbered JSON-RPC calls with the account's Basic credentials."""

    http: httpx.AsyncClient
    url: str
    key: str
    checks: list[Check] = field(default_factory=list)
    _next_id: int = 0

    async def call(self, method: str, params: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        body = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        response = await self.http.post(self.url, json=body, headers={"Authorization": basic_header(key or self.key)})
        answer: dict[str, Any] = response.json()
        if response.status_code != 200 or answer.get("id") != self._next_id:
            raise RuntimeError(f"{method}: HTTP {response.status_code}, id {answer.get('id')!r}")
        return answer

    def expect(self, name: str, ok: bool, answer: dict[str, Any]) -> bool:
        detail = "" if ok else str(answer.get("error") or answer.get("result"))[:200]
        self.checks.append(Check(name, ok, detail))
        return ok

    def expect_error(self, name: str, answer: dict[str, Any], codes: range | tuple[int, ...]) -> bool:
        error = answer.get("error") or {}
        messages = error.get("message") or {}
        ok = error.get("code") in codes and all(messages.get(lang) for lang in ("ru", "uz", "en"))
        return self.expect(name, ok, answer)


async def simulate(sim: Simulation) -> list[Check]:
    config = sim.account.config
    async with httpx.AsyncClient(timeout=20) as http:
        payme = PaymeSide(http, f"{sim.base_url}/webhooks/payme/{sim.account.id}", str(config["key"]))
        try:
            await _happy_path(sim, payme, str(config.get("account_field") or "order_id"))
            await _order_named_by_its_id(sim, payme, str(config.get("account_field") or "order_id"))
        except (httpx.HTTPError, RuntimeError, ValueError, TimeoutError) as exc:
            payme.checks.append(Check("the run went through", False, repr(exc)[:300]))
    return payme.checks


async def _happy_path(sim: Simulation, payme: PaymeSide, account_field: str) -> None:
    config = sim.account.config
    reference = f"sim-{uuid.uuid4().hex[:12]}"
    transaction_id = await sim.open_order(AMOUNT, "UZS", {"account": {account_field: reference}})
    account = {account_field: reference}
    started = now_ms()

    check = await payme.call("CheckPerformTransaction", {"amount": AMOUNT, "account": account})
    payme.expect("CheckPerformTransaction allows the order", check.get("result") == {"allow": True}, check)
    wrong = await payme.call("CheckPerformTransaction", {"amount": AMOUNT + 100, "account": account})
    payme.expect_error("a wrong amount is refused (-31001)", wrong, (-31001,))
    unknown = await payme.call("CheckPerformTransaction", {"amount": AMOUNT, "account": {account_field: payme_id()}})
    payme.expect_error("an unknown order is refused (-31050)", unknown, (-31050,))
    forged = await payme.call("CheckPerformTransaction", {"amount": AMOUNT, "account": account}, key="not-the-key")
    payme.expect_error("a wrong key is refused (-32504)", forged, (-32504,))

    ours = payme_id()
    create = {"id": ours, "time": now_ms(), "amount": AMOUNT, "account": account}
    first = await payme.call("CreateTransaction", create)
    result = first.get("result") or {}
    payme.expect(
        "CreateTransaction: state 1", result.get("state") == 1 and result.get("transaction") == transaction_id, first
    )
    again = await payme.call("CreateTransaction", create)
    payme.expect("a repeated CreateTransaction answers the same", again.get("result") == result, again)
    if config.get("one_time", True):
        other = await payme.call("CreateTransaction", {**create, "id": payme_id()})
        payme.expect_error("a second transaction for the order is refused", other, range(-31099, -31049))

    performed = await payme.call("PerformTransaction", {"id": ours})
    done = performed.get("result") or {}
    payme.expect("PerformTransaction: state 2", done.get("state") == 2 and done.get("perform_time", 0) > 0, performed)
    repeat = await payme.call("PerformTransaction", {"id": ours})
    payme.expect("a repeated PerformTransaction answers the same", repeat.get("result") == done, repeat)
    status = (await payme.call("CheckTransaction", {"id": ours})).get("result") or {}
    payme.expect(
        "CheckTransaction: state 2, cancel_time 0, reason null",
        status.get("state") == 2 and status.get("cancel_time") == 0 and status.get("reason") is None,
        {"result": status},
    )
    missing = await payme.call("CheckTransaction", {"id": payme_id()})
    payme.expect_error("an unknown transaction is refused (-31003)", missing, (-31003,))

    canceled = await payme.call("CancelTransaction", {"id": ours, "reason": 5})
    if not config.get("allow_cancel_after_perform", True):
        payme.expect_error("a cancel after perform is refused (-31007)", canceled, (-31007,))
        return
    payme.expect(
        "CancelTransaction after perform: state -2", (canceled.get("result") or {}).get("state") == -2, canceled
    )
    status = (await payme.call("CheckTransaction", {"id": ours})).get("result") or {}
    payme.expect(
        "CheckTransaction: state -2, reason 5",
        status.get("state") == -2 and status.get("reason") == 5,
        {"result": status},
    )
    late = await payme.call("PerformTransaction", {"id": ours})
    payme.expect_error("PerformTransaction after the cancel is refused (-31008)", late, (-31008,))
    statement = await payme.call("GetStatement", {"from": started - 1000, "to": now_ms()})
    listed = {entry.get("id"): entry for entry in (statement.get("result") or {}).get("transactions", [])}
    entry = listed.get(ours) or {}
    payme.expect("GetStatement lists the transaction in tiyin", entry.get("amount") == AMOUNT, statement)


async def _order_named_by_its_id(sim: Simulation, payme: PaymeSide, account_field: str) -> None:
    """An order created without `details.account`: Payme names it by our transaction id."""
    transaction_id = await sim.open_order(AMOUNT, "UZS", {})
    ours = payme_id()
    account = {account_field: transaction_id}
    created = await payme.call(
        "CreateTransaction", {"id": ours, "time": now_ms(), "amount": AMOUNT, "account": account}
    )
    result = created.get("result") or {}
    payme.expect("an order is found by its transaction id", result.get("transaction") == transaction_id, created)
    canceled = await payme.call("CancelTransaction", {"id": ours, "reason": 3})
    payme.expect(
        "CancelTransaction before perform: state -1", (canceled.get("result") or {}).get("state") == -1, canceled
    )
    late = await payme.call("PerformTransaction", {"id": ours})
    payme.expect_error("PerformTransaction of a canceled transaction is refused (-31008)", late, (-31008,))
