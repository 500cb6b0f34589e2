"""The processor's and the refunds worker's handlers on the in-memory unit of work: no database, no broker.

What is specific to PostgreSQL (row locks, concurrent commands, the constraints) stays in
tests/integration/test_handlers_concurrency.py and test_unit_of_work.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.processor.handlers import TransactionHandlers
from services.refunds.handlers import RefundHandlers
from shared.domain import commands
from shared.domain.errors import NotFound, TransitionNotAllowed
from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus, TransactionStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import AccountConfig, GatewayAccount, ProviderRejected, RefundOutcome
from shared.gateways.cash.adapter import CashAdapter
from shared.gateways.manual import ManualGateway
from shared.gateways.registry import GatewayRegistry
from tests.support.fakes.unit_of_work import FakeDatabase, FakeUnitOfWork

NOW = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
TENANT = uuid.UUID("00000000-0000-4000-8000-000000000001")


class RefundingGateway(ManualGateway):
    """A gateway whose provider answers refunds as the test says, and remembers being asked."""

    name = "refunding"
    config_model: type[AccountConfig] = AccountConfig

    def __init__(self) -> None:
        self.outcome: RefundOutcome | Exception = RefundOutcome(succeeded=True, provider_refund_id="re_1")
        self.asked: list[uuid.UUID] = []

    async def refund(self, account: GatewayAccount, tx: Transaction, refund: Refund) -> RefundOutcome:
        self.asked.append(refund.id)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class World:
    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.gateway = RefundingGateway()
        self.registry = GatewayRegistry([CashAdapter(), self.gateway])
        self.cash = self.db.add_account(GatewayAccount(uuid.uuid4(), TENANT, "cash", {}))
        self.refunding = self.db.add_account(GatewayAccount(uuid.uuid4(), TENANT, "refunding", {}))
        self.transactions = TransactionHandlers(self.uow, self.registry, lambda: NOW)
        self.refunds = RefundHandlers(self.uow, self.registry, lambda: NOW)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db)

    def paid(self, amount: int = 10_000, gateway: str = "refunding") -> Transaction:
        account = self.refunding if gateway == "refunding" else self.cash
        tx = Transaction.open(
            id=uuid.uuid4(),
            tenant_id=TENANT,
            account_id=account.id,
            gateway=gateway,
            money=Money.of(amount, "UZS"),
            details={},
            metadata={},
            at=NOW - timedelta(hours=1),
        )
        tx.complete(NOW - timedelta(minutes=30))
        return self.db.add_transaction(tx)

    def stored(self, transaction_id: uuid.UUID) -> Transaction:
        return self.db.transactions[transaction_id]


@pytest.fixture
def world() -> World:
    return World()


def create(world: World, **overrides: Any) -> commands.CreateTransaction:
    fields: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "tenant_id": TENANT,
        "actor": "api:test",
        "transaction_id": uuid.uuid4(),
        "gateway": "cash",
        "account_id": world.cash.id,
        "amount": 15_000,
        "currency": "UZS",
    }
    return commands.CreateTransaction(**(fields | overrides))


def refund(tx: Transaction, amount: int | None = None, refund_id: uuid.UUID | None = None) -> commands.RequestRefund:
    return commands.RequestRefund(
        command_id=str(uuid.uuid4()),
        tenant_id=TENANT,
        actor="api:test",
        transaction_id=tx.id,
        refund_id=refund_id or uuid.uuid4(),
        amount=amount,
    )


async def test_create_opens_a_pending_transaction_and_records_its_event(world: World) -> None:
    cmd = create(world)
    await world.transactions.create(cmd)
    tx = world.stored(cmd.transaction_id)
    assert (tx.status, tx.amount, tx.account_id) == (TransactionStatus.PENDING, 15_000, world.cash.id)
    assert world.db.event_types(tx.id) == ["transaction.created"]
    assert [(a.actor, a.action) for a in world.db.audit] == [("api:test", "create")]


async def test_a_redelivered_create_changes_nothing(world: World) -> None:
    cmd = create(world)
    await world.transactions.create(cmd)
    await world.transactions.create(cmd)
    assert len(world.db.transactions) == 1
    assert world.db.event_types() == ["transaction.created"]


async def test_a_resend_under_another_command_id_makes_no_twin(world: World) -> None:
    first = create(world)
    await world.transactions.create(first)
    await world.transactions.create(create(world, transaction_id=first.transaction_id, amount=99))
    assert world.stored(first.transaction_id).amount == 15_000
    assert world.db.event_types() == ["transaction.created"]


async def test_create_without_an_account_takes_the_tenants_only_one(world: World) -> None:
    cmd = create(world, account_id=None)
    await world.transactions.create(cmd)
    assert world.stored(cmd.transaction_id).account_id == world.cash.id


async def test_create_for_an_unknown_account_is_not_found_and_keeps_nothing(world: World) -> None:
    cmd = create(world, account_id=uuid.uuid4())
    with pytest.raises(NotFound):
        await world.transactions.create(cmd)
    assert world.db.transactions == {} and world.db.inbox == set()


async def test_complete_then_cancel_is_refused_by_the_state_machine(world: World) -> None:
    cmd = create(world)
    await world.transactions.create(cmd)
    ids: dict[str, Any] = {"tenant_id": TENANT, "actor": "api:test", "transaction_id": cmd.transaction_id}
    await world.transactions.complete(commands.CompleteTransaction(command_id="c-1", **ids))
    assert world.stored(cmd.transaction_id).status is TransactionStatus.COMPLETED
    with pytest.raises(TransitionNotAllowed):
        await world.transactions.cancel(commands.CancelTransaction(command_id="c-2", **ids))
    assert world.stored(cmd.transaction_id).status is TransactionStatus.COMPLETED
    assert ("processor", "c-2") not in world.db.inbox, "a refused command leaves no claim behind"
    assert world.db.event_types(cmd.transaction_id) == ["transaction.created", "transaction.completed"]


async def test_a_command_for_a_transaction_not_there_yet_is_not_found(world: World) -> None:
    missing = commands.CompleteTransaction(command_id="c-1", tenant_id=TENANT, actor="t", transaction_id=uuid.uuid4())
    with pytest.raises(NotFound):
        await world.transactions.complete(missing)


async def test_expire_moves_an_overdue_pending_transaction_once(world: World) -> None:
    cmd = create(world)
    await world.transactions.create(cmd)
    world.db.transactions[cmd.transaction_id].expires_at = NOW - timedelta(seconds=1)
    assert await world.transactions.expire(TENANT, cmd.transaction_id) is True
    assert await world.transactions.expire(TENANT, cmd.transaction_id) is False
    assert world.stored(cmd.transaction_id).status is TransactionStatus.EXPIRED


async def test_a_refund_is_recorded_then_settled_with_the_providers_id(world: World) -> None:
    tx = world.paid()
    cmd = refund(tx, 4_000)
    await world.refunds.request(cmd)
    stored = world.db.refunds[cmd.refund_id]
    assert (stored.status, stored.amount, stored.provider_refund_id) == (RefundStatus.SUCCEEDED, 4_000, "re_1")
    assert world.stored(tx.id).status is TransactionStatus.PARTIALLY_REFUNDED
    assert world.stored(tx.id).refunded_amount == 4_000
    assert world.db.commits == 2, "the intent and the outcome, each in a unit of work of its own"


async def test_a_whole_refund_without_amount_refunds_the_remainder(world: World) -> None:
    tx = world.paid(10_000)
    await world.refunds.request(refund(tx, 3_000))
    await world.refunds.request(refund(tx))
    assert world.stored(tx.id).status is TransactionStatus.REFUNDED
    assert world.stored(tx.id).refunded_amount == 10_000


async def test_a_redelivered_refund_asks_the_provider_once(world: World) -> None:
    tx = world.paid()
    cmd = refund(tx, 1_000)
    await world.refunds.request(cmd)
    await world.refunds.request(cmd)
    assert world.gateway.asked == [cmd.refund_id]
    assert world.stored(tx.id).refunded_amount == 1_000


async def test_a_refund_past_the_remainder_is_recorded_failed_without_asking_the_provider(world: World) -> None:
    tx = world.paid(10_000)
    cmd = refund(tx, 10_001)
    await world.refunds.request(cmd)
    assert world.db.refunds[cmd.refund_id].status is RefundStatus.FAILED
    assert world.gateway.asked == []
    assert world.stored(tx.id).refunded_amount == 0


async def test_a_refund_held_back_by_one_in_flight_fails(world: World) -> None:
    tx = world.paid(10_000)
    held = Refund(
        id=uuid.uuid4(),
        tenant_id=TENANT,
        transaction_id=tx.id,
        amount=8_000,
        status=RefundStatus.REQUESTED,
        reason=None,
        error=None,
        created_at=NOW,
        updated_at=NOW,
    )
    world.db.refunds[held.id] = held
    cmd = refund(tx, 3_000)
    await world.refunds.request(cmd)
    assert world.db.refunds[cmd.refund_id].status is RefundStatus.FAILED


async def test_a_refund_the_provider_refuses_is_recorded_failed(world: World) -> None:
    world.gateway.outcome = ProviderRejected("card closed")
    tx = world.paid()
    cmd = refund(tx, 2_000)
    await world.refunds.request(cmd)
    failed = world.db.refunds[cmd.refund_id]
    assert failed.status is RefundStatus.FAILED and failed.error is not None and "card closed" in failed.error
    assert world.stored(tx.id).refunded_amount == 0
    assert "refund.failed" in world.db.event_types(tx.id)


async def test_the_janitor_resumes_a_refund_left_requested(world: World) -> None:
    tx = world.paid()
    left = Refund(
        id=uuid.uuid4(),
        tenant_id=TENANT,
        transaction_id=tx.id,
        amount=2_500,
        status=RefundStatus.REQUESTED,
        reason=None,
        error=None,
        created_at=NOW,
        updated_at=NOW,
    )
    world.db.refunds[left.id] = left
    await world.refunds.resume(TENANT, tx.id, left.id)
    assert world.db.refunds[left.id].status is RefundStatus.SUCCEEDED
    assert world.stored(tx.id).refunded_amount == 2_500
    assert world.db.audit and {a.actor for a in world.db.audit} == {"janitor"}
