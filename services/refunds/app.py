"""The refunds worker's composition root."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from services.refunds.handlers import RefundHandlers
from shared import metrics, tracing
from shared.broker import topology
from shared.broker.consumer import CommandConsumer, dispatch_table
from shared.broker.publisher import ConfirmedPublisher
from shared.broker.worker import build_broker, run_until_signalled, subscribe
from shared.clock import Clock, utc_now
from shared.domain import commands
from shared.gateways.registry import GatewayRegistry
from shared.messages import RequestRefundMessage
from shared.persistence import maintenance
from shared.persistence.database import create_engine
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from shared.settings import Settings, secret_key

log = logging.getLogger(__name__)


def to_command(message: RequestRefundMessage) -> commands.RequestRefund:
    return commands.RequestRefund(
        command_id=message.command_id,
        tenant_id=message.tenant_id,
        actor=message.actor,
        transaction_id=message.transaction_id,
        refund_id=message.resolved_refund_id(),
        amount=message.amount,
        reason=message.reason,
        requested_at=message.requested_at,
    )


@dataclass
class RefundsWorker:
    broker: RabbitBroker
    publisher: ConfirmedPublisher
    handlers: RefundHandlers
    engine: AsyncEngine
    clock: Clock
    interval_s: float
    consumer: CommandConsumer

    async def janitor(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                for tenant_id, transaction_id, refund_id in await maintenance.stuck_refunds(self.engine, self.clock()):
                    await self.handlers.resume(tenant_id, transaction_id, refund_id)
            except Exception as exc:  # next tick tries again
                log.warning("refund janitor tick failed", extra={"error": repr(exc)[:500]})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)


def bootstrap(settings: Settings, registry: GatewayRegistry | None = None, clock: Clock = utc_now) -> RefundsWorker:
    engine = create_engine(settings.database_url, settings.db_pool_size)
    cipher = Cipher(secret_key(settings))
    registry = registry or GatewayRegistry.load()
    publisher = ConfirmedPublisher(settings.amqp_url)
    handlers = RefundHandlers(functools.partial(UnitOfWork, engine, cipher), registry, clock)
    routes = dispatch_table((RequestRefundMessage, lambda message: handlers.request(to_command(message))))
    consumer = CommandConsumer(publisher, topology.REFUNDS, routes, settings.max_attempts)
    broker = build_broker(settings.amqp_url, settings.prefetch)
    subscribe(broker, topology.REFUNDS, consumer, "Refund requests: the ledger and the provider refund calls")
    return RefundsWorker(broker, publisher, handlers, engine, clock, settings.scheduler_interval_s * 6, consumer)


async def serve(settings: Settings) -> None:
    tracing.configure(settings.tracing, "refunds")
    metrics.serve(settings.metrics_port_refunds, settings.http_host)
    worker = bootstrap(settings)
    stopping = asyncio.Event()
    background: list[asyncio.Task[None]] = []

    async def start() -> None:
        await topology.declare(settings.amqp_url, settings.retry_delay_ms)
        await worker.publisher.start()
        await worker.broker.start()
        background.append(asyncio.create_task(worker.janitor(stopping)))

    async def stop() -> None:
        await worker.broker.stop()
        await asyncio.gather(*background, return_exceptions=True)
        await worker.publisher.close()
        await worker.engine.dispose()
        tracing.shutdown()

    await run_until_signalled(start, stop, stopping)
