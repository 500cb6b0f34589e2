"""The processor's composition root: wires adapters to handlers and runs them on RabbitMQ."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import timedelta

from faststream.rabbit import RabbitBroker

from services.processor import commands_in
from services.processor.daily_rates import DailyRates
from services.processor.gateway_calls import GatewayCalls, serve_calls
from services.processor.handlers import TransactionHandlers
from services.processor.nightly import NightlyReconciliation
from services.processor.scheduler import Scheduler
from shared import metrics, tracing
from shared.broker import topology
from shared.broker.consumer import CommandConsumer, dispatch_table
from shared.broker.publisher import ConfirmedPublisher
from shared.broker.relay import OutboxRelay
from shared.broker.worker import build_broker, run_until_signalled, subscribe
from shared.clock import Clock, utc_now
from shared.gateways.processing import ProcessorDeps
from shared.gateways.registry import GatewayRegistry
from shared.messages import (
    CancelTransactionMessage,
    CompleteTransactionMessage,
    CreateTransactionMessage,
    DeleteTransactionMessage,
    RunReconciliationMessage,
)
from shared.persistence.database import create_engine, raw_dsn
from shared.persistence.notices import REPORTING_CHANNEL, Watch
from shared.persistence.unit_of_work import RatesCache, UnitOfWork
from shared.rates.sources import configured_source
from shared.reconciliation.engine import Reconciler
from shared.security.cipher import Cipher
from shared.settings import Settings, secret_key


@dataclass
class Processor:
    broker: RabbitBroker
    publisher: ConfirmedPublisher
    handlers: TransactionHandlers
    relay: OutboxRelay
    scheduler: Scheduler
    consumer: CommandConsumer
    nightly: NightlyReconciliation
    rates_watch: Watch


def bootstrap(settings: Settings, registry: GatewayRegistry | None = None, clock: Clock = utc_now) -> Processor:
    engine = create_engine(settings.database_url, settings.db_pool_size)
    cipher = Cipher(secret_key(settings))
    registry = registry or GatewayRegistry.load()
    publisher = ConfirmedPublisher(settings.amqp_url)
    rates = RatesCache()
    uow = functools.partial(UnitOfWork, engine, cipher, rates=rates)
    handlers = TransactionHandlers(uow, registry, clock)
    reconciler = Reconciler(engine, uow, registry, clock)

    async def reconcile(message: RunReconciliationMessage) -> None:
        await reconciler.run(message.tenant_id, message.reconciliation_id)

    reader = functools.partial(UnitOfWork, engine, cipher, read_only=True)
    deps = ProcessorDeps(uow, registry, clock, settings, engine, cipher, reader)
    wirings = registry.wirings(deps)
    routes = dispatch_table(
        (CreateTransactionMessage, lambda message: handlers.create(commands_in.create(message))),
        (CompleteTransactionMessage, lambda message: handlers.complete(commands_in.complete(message))),
        (CancelTransactionMessage, lambda message: handlers.cancel(commands_in.cancel(message))),
        (DeleteTransactionMessage, lambda message: handlers.delete(commands_in.delete(message))),
        (RunReconciliationMessage, reconcile),
    )
    for wiring in wirings:
        routes.update(wiring.commands)
    consumer = CommandConsumer(publisher, topology.PROCESSOR, routes, settings.max_attempts)
    broker = build_broker(settings.amqp_url, settings.prefetch)
    subscribe(broker, topology.PROCESSOR, consumer, "Transaction commands: create, complete, cancel, delete")
    serve_calls(broker, GatewayCalls({w.gateway: w.calls for w in wirings if w.calls is not None}))
    relay = OutboxRelay(engine, publisher, raw_dsn(settings.database_url))
    polled = [adapter.name for adapter in registry.all() if adapter.polls_provider]
    source = configured_source(settings)
    scheduler = Scheduler(
        engine,
        handlers,
        clock,
        settings.scheduler_interval_s,
        polled,
        timedelta(seconds=settings.janitor_after_s),
        daily_rates=None if source is None else DailyRates(engine, source, clock),
        webhook_log_keep=timedelta(days=settings.webhook_log_days),
        gateway_ticks=[wiring.tick for wiring in wirings if wiring.tick is not None],
    )
    nightly = NightlyReconciliation(engine, reconciler, registry, cipher, clock)
    rates_watch = rates.watch(raw_dsn(settings.database_url), REPORTING_CHANNEL)
    return Processor(broker, publisher, handlers, relay, scheduler, consumer, nightly, rates_watch)


async def serve(settings: Settings) -> None:
    tracing.configure(settings.tracing, "processor")
    metrics.serve(settings.metrics_port_processor, settings.http_host)
    processor = bootstrap(settings)
    stopping = asyncio.Event()
    background: list[asyncio.Task[None]] = []

    async def start() -> None:
        await topology.declare(settings.amqp_url, settings.retry_delay_ms)
        await processor.publisher.start()
        await processor.broker.start()
        background.append(asyncio.create_task(processor.relay.run(stopping)))
        background.append(asyncio.create_task(processor.rates_watch.run(stopping)))
        background.append(asyncio.create_task(processor.scheduler.run(stopping)))
        if settings.nightly_reconciliation:
            background.append(asyncio.create_task(processor.nightly.run(stopping)))

    async def stop() -> None:
        await processor.broker.stop()
        await asyncio.gather(*background, return_exceptions=True)
        await processor.publisher.close()
        tracing.shutdown()

    await run_until_signalled(start, stop, stopping)
