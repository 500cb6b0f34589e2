"""A refund id belongs to one tenant: a command naming another tenant's refund is refused and changes nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.handlers import TransactionHandlers
from services.refunds.handlers import RefundHandlers
from shared.clock import utc_now
from shared.domain import commands
from shared.gateways.registry import GatewayRegistry
from shared.persistence.tables import refunds
from shared.persistence.unit_of_work import RefundIdTaken
from shared.security.cipher import Cipher
from tests.integration.conftest import UowFactory
from tests.integration.test_handlers_concurrency import (
    completed_cash,
    event_count,
    refund_command,
    refund_rows,
    transaction_row,
)
from tests.support.world import TenantWorld, make_tenant


async def refund_by_id(engine: AsyncEngine, refund_id: uuid.UUID) -> dict[str, object]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(refunds).where(refunds.c.id == refund_id))).mappings().one()
        return dict(row)


async def test_a_refund_command_with_another_tenants_refund_id_is_refused_and_overwrites_nothing(
    uow_factory: UowFactory, registry: GatewayRegistry, engine: AsyncEngine, cipher: Cipher, tenant: TenantWorld
) -> None:
    processor = TransactionHandlers(uow_factory, registry, utc_now)
    refunder = RefundHandlers(uow_factory, registry, utc_now)
    victim_tx = await completed_cash(processor, tenant, 10_000)
    victim_refund = refund_command(tenant, victim_tx, 4_000)
    await refunder.request(victim_refund)
    before = await refund_by_id(engine, victim_refund.refund_id)

    attacker = await make_tenant(engine, cipher)
    attacker_tx = await completed_cash(processor, attacker, 9_000)
    stolen_id = commands.RequestRefund(
        command_id=str(uuid.uuid4()),
        tenant_id=attacker.tenant_id,
        actor="tests",
        transaction_id=attacker_tx,
        refund_id=victim_refund.refund_id,
        amount=1_000,
        reason="overwrite",
    )
    with pytest.raises(RefundIdTaken):
        await refunder.request(stolen_id)

    assert await refund_by_id(engine, victim_refund.refund_id) == before
    assert before["tenant_id"] == tenant.tenant_id and before["transaction_id"] == victim_tx
    assert await refund_rows(engine, attacker_tx) == []
    row = await transaction_row(engine, attacker_tx)
    assert (row["status"], row["refunded_amount"]) == ("completed", 0)
    assert await event_count(engine, attacker_tx, "refund.requested") == 0
