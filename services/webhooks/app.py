"""The webhooks worker's composition root: intake from billing.webhooks, dispatch from PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from aio_pika.abc import AbstractRobustConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.webhooks.dispatcher import Dispatcher
from services.webhooks.intake import Intake
from services.webhooks.sender import Sender
from shared import metrics, tracing
from shared.broker import connection as broker_connection
from shared.broker import topology
from shared.broker.worker import run_until_signalled
from shared.domain.webhooks import ATTEMPT_TIMEOUT_S
from shared.persistence.database import create_engine
from shared.persistence.webhooks import WebhookDeliveries
from shared.security.cipher import Cipher
from shared.security.egress import guarded_client
from shared.settings import Settings, secret_key


@dataclass
class WebhooksWorker:
    engine: AsyncEngine
    client: httpx.AsyncClient
    dispatcher: Dispatcher
    intake: Intake


def bootstrap(settings: Settings) -> WebhooksWorker:
    engine = create_engine(settings.database_url, settings.db_pool_size)
    deliveries = WebhookDeliveries(engine, Cipher(secret_key(settings)))
    client = guarded_client(
        allow_private=settings.webhooks_allow_private,
        timeout=httpx.Timeout(ATTEMPT_TIMEOUT_S),
        limits=httpx.Limits(
            max_connections=settings.webhooks_concurrency, max_keepalive_connections=settings.webhooks_concurrency
        ),
    )
    dispatcher = Dispatcher(
        deliveries,
        Sender(client),
        settings.webhooks_retry_delays,
        settings.webhooks_concurrency,
        settings.webhooks_endpoint_concurrency,
    )
    intake = Intake(deliveries, dispatcher.wake.set)
    return WebhooksWorker(engine, client, dispatcher, intake)


async def serve(settings: Settings) -> None:
    tracing.configure(settings.tracing, "webhooks")
    metrics.serve(settings.metrics_port_webhooks, settings.http_host)
    worker = bootstrap(settings)
    stopping = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    connection: list[AbstractRobustConnection] = []

    async def start() -> None:
        await topology.declare(settings.amqp_url, settings.retry_delay_ms)
        amqp = await broker_connection.connect_robust(settings.amqp_url)
        connection.append(amqp)
        channel = await amqp.channel()
        await channel.set_qos(prefetch_count=settings.prefetch)
        queue = await channel.get_queue(topology.WEBHOOKS_QUEUE, ensure=True)
        await queue.consume(worker.intake.on_message)
        background.append(asyncio.create_task(worker.dispatcher.run(stopping)))

    async def stop() -> None:
        for amqp in connection:
            await amqp.close()  # unacked events go back to the queue; their deliveries are recorded once anyway
        await asyncio.gather(*background, return_exceptions=True)
        await worker.client.aclose()
        await worker.engine.dispose()
        tracing.shutdown()

    await run_until_signalled(start, stop, stopping)
