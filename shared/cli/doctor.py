"""`billing doctor`: checks configuration, database, broker, workers, gateway credentials and webhooks.

One line per check: `ok`, `FAIL ... -- fix: <what to do>`, or `skip` (it needs a check that failed).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import aio_pika
import asyncpg
import httpx
from aio_pika.abc import AbstractRobustConnection

from shared.broker import connection as amqp
from shared.broker.rpc import RPC_QUEUE
from shared.broker.topology import DEAD_LETTER_EXCHANGE, PARKING_QUEUE, WEBHOOKS_QUEUE, WORK_QUEUES
from shared.messages import COMMANDS_EXCHANGE, EVENTS_EXCHANGE
from shared.settings import ConfigurationError, Settings, load_settings, secret_key

TIMEOUT_S = 5.0
MAX_PROBED_URLS = 20
MIGRATE = "run `billing migrate` (it creates the database if missing and applies every migration)"


AUTOVACUUM_OFF = (
    "autovacuum is off on this server: the busy tables (transactions, outbox, audit_log) are never vacuumed or"
    " analysed, and their queries slow down as they grow (turn autovacuum on, or VACUUM ANALYZE them regularly)"
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | FAIL | skip
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<13} {self.detail}"
        return f"{text} -- fix: {self.fix}" if self.fix else text


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, "FAIL", detail, fix)


@dataclass
class Findings:
    checks: list[Check] = field(default_factory=list)
    accounts: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (id, gateway) of readable accounts

    def add(self, check: Check) -> bool:
        self.checks.append(check)
        return not check.failed


async def diagnose() -> list[Check]:
    found = Findings()
    try:
        settings = load_settings()
        key = secret_key(settings) if settings.secret_key or settings.secret_key_file.exists() else None
    except ConfigurationError as exc:
        variable = str(exc).split(":", 1)[0]
        found.add(fail("configuration", str(exc), f"set {variable} to a valid value (see README, Configuration)"))
        return found.checks
    found.add(ok("configuration", f"settings load ({settings.env})"))
    database_ok = found.add(await _database(settings))
    connection = await _connect_broker(settings, found)
    if connection is not None:
        try:
            if found.add(await _topology(connection)):
                found.add(await _workers(connection))
            else:
                found.add(Check("workers", "skip", "needs the broker topology"))
        finally:
            await connection.close()
    else:
        found.add(Check("workers", "skip", "needs the broker"))
    if database_ok:
        found.add(await _accounts(settings, key, found))
    else:
        found.add(Check("accounts", "skip", "needs the database"))
    found.add(await _webhooks(settings, found.accounts))
    return found.checks


async def _database(settings: Settings) -> Check:
    from alembic.script import ScriptDirectory

    from shared.persistence.database import alembic_config, current_heads, raw_dsn

    name = urlparse(raw_dsn(settings.database_url)).path.lstrip("/") or "billing"
    try:
        connection = await asyncpg.connect(raw_dsn(settings.database_url), timeout=TIMEOUT_S)
        try:
            autovacuum = await connection.fetchval("SHOW autovacuum")
        finally:
            await connection.close()
        heads = await current_heads(settings.database_url)
    except asyncpg.InvalidCatalogNameError:
        return fail("database", f"the database {name!r} does not exist", MIGRATE)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return fail(
            "database",
            f"PostgreSQL is not reachable at BILLING_DATABASE_URL ({exc.__class__.__name__}: {exc})",
            "start PostgreSQL, or point BILLING_DATABASE_URL at it (postgresql+asyncpg://user:password@host:5432/db)",
        )
    wanted = tuple(sorted(ScriptDirectory.from_config(alembic_config(settings.database_url)).get_heads()))
    if heads != wanted:
        have = ", ".join(heads) or "no schema"
        return fail("database", f"migrations at {have}, the code needs {', '.join(wanted)}", MIGRATE)
    detail = f"{name!r} reachable, migrations at head ({', '.join(wanted)})"
    if autovacuum != "on":
        detail += f"; note: {AUTOVACUUM_OFF}"
    return ok("database", detail)


async def _connect_broker(settings: Settings, found: Findings) -> AbstractRobustConnection | None:
    try:
        return await asyncio.wait_for(amqp.connect_robust(settings.amqp_url), TIMEOUT_S)
    except Exception as exc:  # aio-pika raises several kinds; all mean "unreachable"
        found.add(
            fail(
                "broker",
                f"RabbitMQ is not reachable at BILLING_AMQP_URL ({exc.__class__.__name__})",
                "start RabbitMQ, or point BILLING_AMQP_URL at it (amqp://user:password@host:5672/vhost)",
            )
        )
        return None


async def _passive(connection: AbstractRobustConnection, declare: Callable[[Any], Awaitable[Any]]) -> Any:
    """A passive declare on its own channel: a missing entity closes the channel it was asked on."""
    channel = await connection.channel()
    try:
        return await declare(channel)
    except aio_pika.exceptions.ChannelClosed:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()


async def _topology(connection: AbstractRobustConnection) -> Check:
    exchanges = (COMMANDS_EXCHANGE, EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE)
    queues = (
        RPC_QUEUE,
        PARKING_QUEUE,
        WEBHOOKS_QUEUE,
        *(q for work in WORK_QUEUES for q in (work.name, work.delay_queue)),
    )
    missing = [f"exchange {name}" for name in exchanges if await _exchange(connection, name) is None]
    parked = None
    for name in queues:
        queue = await _queue(connection, name)
        if queue is None:
            missing.append(f"queue {name}")
        elif name == PARKING_QUEUE:
            parked = queue.declaration_result.message_count
    if missing:
        return fail(
            "broker",
            "missing: " + ", ".join(missing),
            "start any billing service once (each declares the topology at start), "
            "or load deploy/rabbitmq/definitions.json into RabbitMQ",
        )
    note = f"; {parked} parked message(s): see `billing dlq list`" if parked else ""
    return ok("broker", f"{len(exchanges)} exchanges and {len(queues)} queues declared{note}")


async def _exchange(connection: AbstractRobustConnection, name: str) -> Any:
    return await _passive(connection, lambda channel: channel.get_exchange(name, ensure=True))


async def _queue(connection: AbstractRobustConnection, name: str) -> Any:
    return await _passive(connection, lambda channel: channel.declare_queue(name, passive=True))


async def _workers(connection: AbstractRobustConnection) -> Check:
    idle = []
    counts = []
    for name in (*(work.name for work in WORK_QUEUES), WEBHOOKS_QUEUE):
        queue = await _queue(connection, name)
        consumers = 0 if queue is None else queue.declaration_result.consumer_count
        counts.append(f"{name} {consumers}")
        if consumers == 0:
            idle.append(name.removeprefix("billing."))
    if idle:
        commands = " and ".join(f"`billing {name}`" for name in idle)
        return fail("workers", "no consumer on: " + ", ".join(counts), f"start {commands} (or `billing up`)")
    return ok("workers", "consumers: " + ", ".join(counts))


async def _accounts(settings: Settings, key: str | None, found: Findings) -> Check:
    from shared.domain.errors import UnknownGateway
    from shared.gateways.base import InvalidGatewayConfig, check_config
    from shared.gateways.registry import GatewayRegistry
    from shared.persistence.admin import sealed_accounts
    from shared.persistence.database import create_engine
    from shared.security.cipher import Cipher, CredentialsUnreadable

    engine = create_engine(settings.database_url, pool_size=1)
    try:
        rows = await sealed_accounts(engine)
    except Exception as exc:  # the schema check above passed; anything here is unexpected and worth showing
        return fail("accounts", f"cannot read gateway_accounts ({exc.__class__.__name__})", MIGRATE)
    finally:
        await engine.dispose()
    if not rows:
        return ok("accounts", "no gateway accounts yet")
    if key is None:
        return fail(
            "accounts",
            f"{len(rows)} gateway account(s) but no BILLING_SECRET_KEY to open their credentials",
            "set BILLING_SECRET_KEY to the key the credentials were sealed with",
        )
    cipher = Cipher(key)
    registry = GatewayRegistry.load()
    sealed: list[str] = []
    broken: list[str] = []
    for row in rows:
        try:
            adapter = registry.get(row["gateway"])
            secrets = cipher.open(row["secret_config"])
            check_config(adapter, {**row["public_config"], **secrets})
        except CredentialsUnreadable:
            sealed.append(str(row["id"]))
            continue
        except (UnknownGateway, InvalidGatewayConfig) as exc:
            broken.append(f"{row['id']} ({exc})")
            continue
        found.accounts.append((row["id"], row["gateway"]))
    if sealed:
        return fail(
            "accounts",
            f"{len(sealed)} of {len(rows)} gateway account(s) do not decrypt with BILLING_SECRET_KEY: "
            + ", ".join(sealed[:5])
            + (" ..." if len(sealed) > 5 else ""),
            "set BILLING_SECRET_KEY to the key these credentials were sealed with (every service must share it); "
            "if that key is lost, delete these accounts and add them again with their credentials",
        )
    if broken:
        return fail(
            "accounts",
            f"{len(broken)} of {len(rows)} gateway account(s) are unusable: " + "; ".join(broken[:3]),
            "install the gateway's adapter, or fix the account with PATCH /v1/gateway-accounts/{id}",
        )
    older = sum(1 for row in rows if not cipher.under_first_key(row["secret_config"]))
    if older:
        return ok(
            "accounts",
            f"{len(rows)} gateway account(s), every credential decrypts with BILLING_SECRET_KEY; {older} still "
            "under an older key (run `billing secrets rotate`)",
        )
    return ok(
        "accounts",
        f"{len(rows)} gateway account(s), every credential decrypts with BILLING_SECRET_KEY; 0 under an older key",
    )


async def _webhooks(settings: Settings, accounts: list[tuple[uuid.UUID, str]]) -> Check:
    from shared.gateways.registry import GatewayRegistry

    public = settings.public_url
    host = urlparse(public).hostname or ""
    if settings.env == "production" and (host in ("localhost", "::1") or host.startswith("127.")):
        return fail(
            "webhooks",
            f"BILLING_PUBLIC_URL is {public}, which no gateway can reach",
            "set BILLING_PUBLIC_URL to the public https address of the ingress",
        )
    registry = GatewayRegistry.load()
    urls = sorted({url for account_id, gateway in accounts for url in _urls(registry, gateway, account_id, public)})
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
        try:
            live = await client.get(f"{public}/health/live")
        except httpx.HTTPError as exc:
            live = None
            reason = f"{exc.__class__.__name__}: {exc}"
        if live is None or live.status_code != 200:
            answer = reason if live is None else f"HTTP {live.status_code}"
            return fail(
                "webhooks",
                f"{public}/health/live does not answer ({answer})",
                "start `billing ingress`, or set BILLING_PUBLIC_URL to the address gateways use to reach it "
                "(check DNS, TLS and the proxy or Kubernetes Ingress rules)",
            )
        unrouted = [url for url in urls[:MAX_PROBED_URLS] if not await _routed(client, url)]
    if unrouted:
        return fail(
            "webhooks",
            f"{len(unrouted)} webhook URL(s) are not served at BILLING_PUBLIC_URL: " + ", ".join(unrouted[:3]),
            "route /webhooks/ of BILLING_PUBLIC_URL to the ingress (proxy or Ingress rules)",
        )
    webhook_note = f", {len(urls)} webhook URL(s) routed" if urls else ""
    return ok("webhooks", f"{public} answers /health/live{webhook_note}")


def _urls(registry: Any, gateway: str, account_id: uuid.UUID, public: str) -> list[str]:
    from shared.persistence.admin import webhook_urls

    return list(webhook_urls(public, registry.get(gateway), account_id).values())


async def _routed(client: httpx.AsyncClient, url: str) -> bool:
    """Webhooks take POST: the ingress answers a GET with 405 where the route exists, 404 where it does not."""
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code != 404 and response.status_code < 500


def report(checks: list[Check]) -> tuple[str, int]:
    """The lines to print and the exit code (1 when anything failed)."""
    return "\n".join(check.line() for check in checks), 1 if any(c.failed for c in checks) else 0
