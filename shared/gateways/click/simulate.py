"""`billing simulate click`: plays Click's side of a sandbox run over HTTP, with real signs, and checks the answers."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.cli.simulation import Check, Simulation
from shared.domain.money import Money
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.shop import ClickError, Operation, expected_sign
from shared.persistence.database import create_engine
from shared.persistence.queries import TenantReads

AMOUNT = 1_500_000  # 15 000.00 UZS in tiyin


def click_request(
    secret_key: str,
    operation: Operation,
    *,
    service_id: int,
    merchant_trans_id: str,
    amount: str,
    click_trans_id: int,
    click_paydoc_id: int,
    merchant_prepare_id: int | None = None,
    error: int = 0,
    error_note: str = "Success",
    action: str | None = None,
    sign_time: str | None = None,
) -> dict[str, str]:
    """The form Click posts, signed as Click signs it (the action defaults to the endpoint's)."""
    fields = {
        "click_trans_id": str(click_trans_id),
        "service_id": str(service_id),
        "click_paydoc_id": str(click_paydoc_id),
        "merchant_trans_id": merchant_trans_id,
        "amount": amount,
        "action": operation.action if action is None else action,
        "error": str(error),
        "error_note": error_note,
        "sign_time": sign_time or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }
    if operation is Operation.COMPLETE:
        fields["merchant_prepare_id"] = str(merchant_prepare_id)
    fields["sign_string"] = expected_sign(operation, fields, secret_key)
    return fields


def new_click_ids() -> tuple[int, int]:
    """A fresh (click_trans_id, click_paydoc_id), as Click hands out per attempt."""
    return 1_000_000_000 + secrets.randbelow(8_000_000_000), 2_000_000_000 + secrets.randbelow(7_000_000_000)


@dataclass
class ClickSide:
    """Click as the service sees it: posts Prepare and Complete for one account."""

    sim: Simulation
    http: httpx.AsyncClient

    @property
    def config(self) -> ClickConfig:
        return ClickConfig.model_validate(self.sim.account.config)

    def form(self, operation: Operation, merchant_trans_id: str, ids: tuple[int, int], **extra: Any) -> dict[str, str]:
        extra.setdefault("amount", Money.of(AMOUNT, "UZS").major_str())
        return click_request(
            self.config.secret_key,
            operation,
            service_id=self.config.service_id,
            merchant_trans_id=merchant_trans_id,
            click_trans_id=ids[0],
            click_paydoc_id=ids[1],
            **extra,
        )

    async def post(self, operation: Operation, fields: dict[str, str]) -> dict[str, Any]:
        response = await self.http.post(f"/webhooks/click/{self.sim.account.id}/{operation.value}", data=fields)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def status(self, transaction_id: str) -> str | None:
        engine = create_engine(self.sim.settings.database_url, pool_size=1)
        try:
            tx = await TenantReads(engine, self.sim.account.tenant_id).get(uuid.UUID(transaction_id))
        finally:
            await engine.dispose()
        return None if tx is None else str(tx["status"])


def expect(name: str, body: dict[str, Any], code: ClickError, also: bool = True, otherwise: str = "") -> Check:
    """Passes when Click would get `code` and the extra condition `also` holds (`otherwise` says what it is)."""
    detail = f"error {body.get('error')} ({body.get('error_note')}), expected {int(code)}"
    if not also:
        detail += f"; {otherwise}"
    return Check(name, body.get("error") == int(code) and also, detail)


async def simulate(sim: Simulation) -> list[Check]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=30) as http:
        click = ClickSide(sim, http)
        return [*await _happy_path(click), *await _refusals(click), *await _failed_debit(click)]


async def _happy_path(click: ClickSide) -> list[Check]:
    """An order known by our transaction id: Prepare (twice), Complete (twice)."""
    order = await click.sim.open_order(AMOUNT, "UZS", {})
    ids = new_click_ids()
    prepared = await click.post(Operation.PREPARE, click.form(Operation.PREPARE, order, ids))
    prepare_id = prepared.get("merchant_prepare_id")
    again = await click.post(Operation.PREPARE, click.form(Operation.PREPARE, order, ids))
    done = await click.post(
        Operation.COMPLETE, click.form(Operation.COMPLETE, order, ids, merchant_prepare_id=prepare_id)
    )
    status = await click.status(order)
    repeated = await click.post(
        Operation.COMPLETE, click.form(Operation.COMPLETE, order, ids, merchant_prepare_id=prepare_id)
    )
    after = await click.status(order)
    return [
        expect("prepare", prepared, ClickError.SUCCESS, isinstance(prepare_id, int), "no merchant_prepare_id"),
        expect(
            "prepare repeated: same id",
            again,
            ClickError.SUCCESS,
            again.get("merchant_prepare_id") == prepare_id,
            f"id {again.get('merchant_prepare_id')} instead of {prepare_id}",
        ),
        expect("complete", done, ClickError.SUCCESS, isinstance(done.get("merchant_confirm_id"), int), "no confirm id"),
        Check("transaction completed", status == "completed", f"status {status}"),
        expect("complete repeated: already paid", repeated, ClickError.ALREADY_PAID, after == status, f"now {after}"),
    ]


async def _refusals(click: ClickSide) -> list[Check]:
    """Each of Click's error codes that a well-behaved merchant must give."""
    reference = f"sim-{uuid.uuid4().hex[:12]}"
    order = await click.sim.open_order(AMOUNT, "UZS", {"merchant_trans_id": reference})
    ids = new_click_ids()
    wrong_amount = await click.post(Operation.PREPARE, click.form(Operation.PREPARE, reference, ids, amount="14999.00"))
    forged = click.form(Operation.PREPARE, reference, ids)
    forged["sign_string"] = forged["sign_string"][::-1]
    wrong_sign = await click.post(Operation.PREPARE, forged)
    unknown = await click.post(Operation.PREPARE, click.form(Operation.PREPARE, f"{reference}-missing", ids))
    unsigned = click.form(Operation.PREPARE, reference, ids)
    del unsigned["sign_string"]
    missing = await click.post(Operation.PREPARE, unsigned)
    prepared = await click.post(Operation.PREPARE, click.form(Operation.PREPARE, reference, ids))
    prepare_id = int(prepared.get("merchant_prepare_id") or 0)
    stray = await click.post(
        Operation.COMPLETE, click.form(Operation.COMPLETE, reference, ids, merchant_prepare_id=prepare_id + 7)
    )
    status = await click.status(order)
    return [
        expect("wrong amount", wrong_amount, ClickError.INCORRECT_AMOUNT),
        expect("wrong sign", wrong_sign, ClickError.SIGN_CHECK_FAILED),
        expect("unknown order", unknown, ClickError.ORDER_NOT_FOUND),
        expect("missing fields", missing, ClickError.BAD_REQUEST),
        expect("unknown prepare id", stray, ClickError.TRANSACTION_NOT_FOUND, status == "pending", f"order {status}"),
    ]


async def _failed_debit(click: ClickSide) -> list[Check]:
    """Click could not debit the card: the order fails and the answer is -9."""
    reference = f"sim-{uuid.uuid4().hex[:12]}"
    order = await click.sim.open_order(AMOUNT, "UZS", {"merchant_trans_id": reference})
    ids = new_click_ids()
    prepared = await click.post(Operation.PREPARE, click.form(Operation.PREPARE, reference, ids))
    failed = await click.post(
        Operation.COMPLETE,
        click.form(
            Operation.COMPLETE,
            reference,
            ids,
            merchant_prepare_id=prepared.get("merchant_prepare_id"),
            error=-5017,
            error_note="Insufficient funds",
        ),
    )
    status = await click.status(order)
    return [
        expect("failed debit: cancelled", failed, ClickError.TRANSACTION_CANCELLED),
        Check("transaction failed", status == "failed", f"status {status}"),
    ]
