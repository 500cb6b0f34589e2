"""The nightly reconciliation: yesterday of each account with an API source, once, whatever the replicas."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.processor.nightly import NightlyReconciliation
from shared.domain.reconciliation import ProviderRecord
from shared.domain.status import TransactionStatus
from shared.gateways.base import AccountConfig, GatewayAccount
from shared.gateways.manual import ManualGateway
from shared.gateways.registry import GatewayRegistry
from shared.persistence.admin import GatewayAccounts, create_tenant
from shared.persistence.tables import reconciliation_differences, reconciliations, transactions
from shared.reconciliation.engine import Reconciler
from shared.reconciliation.sources import Ledger, Period
from shared.security.cipher import Cipher
from tests.integration.conftest import UowFactory

NOW = datetime(2026, 5, 10, 3, 0, tzinfo=UTC)
YESTERDAY_NOON = datetime(2026, 5, 9, 12, 0, tzinfo=UTC)


class ListingGateway(ManualGateway):
    """A processor whose API lists our payments back, each 1 minor unit short: every one differs."""

    name = "nightlypay"
    config_model: type[AccountConfig] = AccountConfig

    def __init__(self) -> None:
        self.asked: list[Period] = []

    async def reconciliation_records(
        self, account: GatewayAccount, period: Period, ledger: Ledger
    ) -> AsyncIterator[ProviderRecord]:
        self.asked.append(period)
        async for tx in ledger.transactions():
            yield ProviderRecord(None, tx.id, tx.amount - 1, 0, tx.currency, TransactionStatus.COMPLETED)

    def reference_paths(self, account: GatewayAccount) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (), ()


async def test_yesterday_is_reconciled_once_per_account_even_with_two_replicas(
    engine: AsyncEngine, cipher: Cipher, uow_factory: UowFactory
) -> None:
    gateway = ListingGateway()
    registry = GatewayRegistry([gateway])
    tenant_id = await create_tenant(engine, f"nightly-{uuid.uuid4().hex[:6]}")
    account = await GatewayAccounts(engine, cipher, tenant_id).add(gateway, {})
    paid_yesterday, paid_today = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        for tx_id, at in ((paid_yesterday, YESTERDAY_NOON), (paid_today, NOW)):
            await conn.execute(
                insert(transactions).values(
                    id=tx_id, tenant_id=tenant_id, account_id=account.id, gateway="nightlypay", status="completed",
                    amount=500, refunded_amount=0, currency="UZS", details={}, metadata={}, version=1,
                    created_at=at, updated_at=at,
                )
            )  # fmt: skip
    replicas = [
        NightlyReconciliation(
            engine, Reconciler(engine, uow_factory, registry, lambda: NOW), registry, cipher, lambda: NOW
        )
        for _ in range(2)
    ]
    assert await replicas[0].tick() == 1
    assert await replicas[1].tick() == 0, "the other replica finds the night already taken"
    assert await replicas[0].tick() == 0, "and the same replica does not run it twice"

    async with engine.connect() as conn:
        [run] = (
            (await conn.execute(select(reconciliations).where(reconciliations.c.account_id == account.id)))
            .mappings()
            .all()
        )
        differences = (
            await conn.execute(
                select(reconciliation_differences.c.transaction_id).where(
                    reconciliation_differences.c.run_id == run["id"]
                )
            )
        ).scalars()
        reported = list(differences)
    assert run["status"] == "completed" and run["nightly"] == 1 and run["source"] == "api"
    assert (run["period_from"], run["period_to"].date()) == (datetime(2026, 5, 9, tzinfo=UTC), YESTERDAY_NOON.date())
    assert reported == [paid_yesterday], "only yesterday's payment is compared"
    assert len(gateway.asked) == 1


async def test_before_the_hour_nothing_runs(engine: AsyncEngine, cipher: Cipher, uow_factory: UowFactory) -> None:
    registry = GatewayRegistry([ListingGateway()])
    early = datetime(2026, 5, 10, 1, 59, tzinfo=UTC)
    nightly = NightlyReconciliation(
        engine, Reconciler(engine, uow_factory, registry, lambda: early), registry, cipher, lambda: early
    )
    assert await nightly.tick() == 0
