"""`billing up`: runs ingress, processor, refunds and webhooks as one supervised group of processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import asyncpg
import httpx

from shared.broker import connection as amqp
from shared.persistence.database import raw_dsn
from shared.settings import Settings

SERVICES = ("ingress", "processor", "refunds", "webhooks")
START_HINT = (
    "start the local service ({local}), or where Docker is present: "
    "BILLING_SECRET_KEY=<a Fernet key> docker compose -f deploy/compose.yaml up -d postgres rabbitmq"
)


class Unreachable(Exception):
    """A dependency is down; the message says which and how to start it."""


async def check_dependencies(settings: Settings) -> None:
    try:
        conn = await asyncpg.connect(raw_dsn(settings.database_url, "postgres"), timeout=5)
        await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        local = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        raise Unreachable(
            f"PostgreSQL is not reachable at BILLING_DATABASE_URL ({exc.__class__.__name__}): "
            + START_HINT.format(local=local)
        ) from None
    try:
        connection = await asyncio.wait_for(amqp.connect(settings.amqp_url), timeout=5)
        await connection.close()
    except Exception as exc:  # aio-pika raises several kinds; all mean "unreachable"
        raise Unreachable(
            f"RabbitMQ is not reachable at BILLING_AMQP_URL ({exc.__class__.__name__}): "
            + START_HINT.format(local="rabbitmq-server -detached")
        ) from None


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        command = [sys.executable, "-m", "shared.cli.main", self.name]
        self.process = subprocess.Popen(command, env=os.environ.copy())  # noqa: S603


def supervise(settings: Settings) -> int:
    children = [Child(name) for name in SERVICES]
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for child in children:
        child.start()
    base = f"http://{settings.http_host}:{settings.http_port}"
    if _wait_ready(base, children, lambda: stopping):
        print(f"billing is up: ingress listening on {base}", flush=True)
        print(f"  console {base}/console   (first operator: billing operator create, see the README)", flush=True)
        print(f"  openapi {base}/docs   health {base}/health/ready", file=sys.stderr, flush=True)
    while not stopping:
        time.sleep(0.5)
        for child in children:
            if child.process is not None and child.process.poll() is not None and not stopping:
                time.sleep(0.3)  # a Ctrl-C or SIGTERM to the group reaches the children first: let ours land
                if stopping:
                    break
                code = child.process.returncode
                now = time.monotonic()
                child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                if len(child.restarts) > 5:
                    print(f"billing: {child.name} keeps exiting (code {code}); stopping", file=sys.stderr)
                    stopping = True
                    break
                print(f"billing: {child.name} exited with {code}; restarting", file=sys.stderr, flush=True)
                child.start()
    return _stop_all(children)


def _wait_ready(base: str, children: list[Child], stopped: object) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stopped():  # type: ignore[operator]
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if any(c.process is not None and c.process.poll() is not None for c in children):
            return False
        time.sleep(0.3)
    return False


def _stop_all(children: list[Child]) -> int:
    for child in children:
        if child.process is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
    return 0
