"""The ingress' composition root: a thin FastAPI app that authenticates, validates and publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from services.ingress import console, openapi, problems
from services.ingress.account_cache import AccountCache
from services.ingress.auth import KeyCache
from services.ingress.body_limits import BodyLimit
from services.ingress.context import Ingress
from services.ingress.observability import RequestObservability
from services.ingress.rate_limit import TokenBuckets
from services.ingress.routes import routers
from services.ingress.waiters import Waiters
from shared import metrics, tracing
from shared.broker import topology
from shared.broker.publisher import ConfirmedPublisher
from shared.broker.rpc import RpcClient
from shared.gateways.registry import GatewayRegistry
from shared.persistence.database import create_engine
from shared.persistence.idempotency import IdempotencyStore
from shared.security.cipher import Cipher
from shared.settings import Settings, secret_key


def create_app(settings: Settings, registry: GatewayRegistry | None = None) -> FastAPI:
    gateways = registry or GatewayRegistry.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, settings.db_pool_size)
        replica = (
            create_engine(settings.database_read_url, settings.db_pool_size) if settings.database_read_url else None
        )
        await topology.declare(settings.amqp_url, settings.retry_delay_ms)
        publisher = ConfirmedPublisher(settings.amqp_url)
        await publisher.start()
        waiters = Waiters()
        await waiters.start(publisher.connection)
        rpc = RpcClient()
        await rpc.start(publisher.connection)
        cipher = Cipher(secret_key(settings))
        app.state.ingress = Ingress(
            settings=settings,
            engine=engine,
            publisher=publisher,
            registry=gateways,
            cipher=cipher,
            idempotency=IdempotencyStore(engine),
            keys=KeyCache(),
            buckets=TokenBuckets(settings.rate_limit_rps, settings.rate_limit_burst),
            accounts=AccountCache(engine, cipher),
            waiters=waiters,
            rpc=rpc,
            replica=replica,
        )
        try:
            yield
        finally:
            await publisher.close()
            await engine.dispose()
            if replica is not None:
                await replica.dispose()

    app = FastAPI(
        title="Billing service",
        version="0.1.0",
        description="Payments through the gateways of the registry: " + ", ".join(gateways.names()) + ".",
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,  # operation ids from the functions' names
    )
    problems.install(app)
    openapi.install(app)
    for router in routers(gateways):
        app.include_router(router)
    console.install(app)
    app.add_middleware(BodyLimit)  # inside the observability: refusals are counted and logged too
    app.add_middleware(RequestObservability)
    tracing.instrument_app(app)
    return app


def serve(settings: Settings) -> None:
    tracing.configure(settings.tracing, "ingress")
    # Never on the public port: payment counts per gateway and status are the operator's, not the internet's.
    metrics.serve(settings.metrics_port_ingress, settings.http_host)
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            log_config=None,  # uvicorn's own lines go through our JSON logs and their redaction
            access_log=False,
            timeout_keep_alive=65,  # longer than clients' idle pools, so a reused connection is not cut under them
            lifespan="on",
            loop="uvloop",
            http="httptools",
        )
    finally:
        tracing.shutdown()
