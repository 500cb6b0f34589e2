"""A benchmark's own sandbox: a database and a vhost of its own, `billing migrate`, `billing up`, clean-up.

Shared by bench/payments.py and bench/payme.py:

    def benchmark(sandbox: Sandbox) -> None:
        with Session(sandbox) as session:    # vhost + migrate; always stops, drops and deletes on exit
            session.start()                  # `billing up` in its own session, until /health/ready
            tenant = create_tenant(sandbox)
            ...
            session.stop()

    sys.exit(run(benchmark))                 # SIGTERM and Ctrl-C still clean up
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import asyncpg
import httpx

PG_BASE = os.environ.get("BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
AMQP_BASE = os.environ.get("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672")
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
# Below uvicorn's 5 s keep-alive: the client drops an idle connection before the server closes it under a request.
CLIENT_KEEPALIVE_S = 3.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Sandbox:
    """The names and addresses of this run's own database, vhost and service."""

    run_id: str
    port: int
    log_path: Path

    @property
    def name(self) -> str:
        """The database and vhost name of this run."""
        return f"bench_{self.run_id}"

    @property
    def database_url(self) -> str:
        """The service's SQLAlchemy URL."""
        return f"{PG_BASE}/{self.name}"

    @property
    def dsn(self) -> str:
        """The same database as a plain asyncpg DSN."""
        return self.database_url.replace("+asyncpg", "")

    @property
    def amqp_url(self) -> str:
        """The broker URL on this run's vhost."""
        return f"{AMQP_BASE}/{self.name}"

    @property
    def base_url(self) -> str:
        """Where the ingress listens."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment for every `billing` command of this run."""
        return dict(
            os.environ,
            BILLING_DATABASE_URL=self.database_url,
            BILLING_AMQP_URL=self.amqp_url,
            BILLING_HTTP_HOST="127.0.0.1",
            BILLING_HTTP_PORT=str(self.port),
            BILLING_PUBLIC_URL=self.base_url,
            # The benchmarks measure the service's throughput with few keys, not the per-key rate limit.
            BILLING_RATE_LIMIT_RPS="1000000",
            BILLING_RATE_LIMIT_BURST="1000000",
        )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_sandbox() -> Sandbox:
    """Unique names for this run; the service log goes to a temp file that outlives the run."""
    run_id = uuid.uuid4().hex[:8]
    log_path = Path(tempfile.gettempdir()) / f"billing-bench-{run_id}.log"
    return Sandbox(run_id=run_id, port=free_port(), log_path=log_path)


# ---------------------------------------------------------------- the CLI and the broker's admin tool


def billing_bin() -> str:
    """The `billing` console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "billing"
    return str(beside) if beside.exists() else "billing"


def billing(sandbox: Sandbox, *args: str) -> dict[str, Any]:
    """Run one `billing` command and return the JSON document it prints."""
    done = subprocess.run([billing_bin(), *args], env=sandbox.env(), capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"billing {' '.join(args[:2])} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    document: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    return document


def create_tenant(sandbox: Sandbox) -> str:
    """A tenant named after this run (`billing tenant create`); returns its id."""
    tenant_id: str = billing(sandbox, "tenant", "create", "--name", f"bench-{sandbox.run_id}")["id"]
    return tenant_id


def rabbitmqctl(*args: str) -> None:
    """Run one rabbitmqctl command, raising with its stderr on failure."""
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()[-300:]}")


def add_vhost(sandbox: Sandbox) -> None:
    """Create this run's vhost and let guest use it."""
    rabbitmqctl("add_vhost", sandbox.name)
    rabbitmqctl("set_permissions", "-p", sandbox.name, "guest", ".*", ".*", ".*")


def delete_vhost(sandbox: Sandbox) -> None:
    """Delete this run's vhost (and every queue in it)."""
    with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
        rabbitmqctl("delete_vhost", sandbox.name)


async def drop_database(sandbox: Sandbox) -> None:
    """Drop this run's database, closing any connection still open on it."""
    connection = await asyncpg.connect(sandbox.dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{sandbox.name}" WITH (FORCE)')
    finally:
        await connection.close()


# ---------------------------------------------------------------- the service


def start_service(sandbox: Sandbox) -> subprocess.Popen[bytes]:
    """Start `billing up` in its own session, its output going to the log file."""
    with sandbox.log_path.open("wb") as log:
        return subprocess.Popen(
            [billing_bin(), "up"],
            env=sandbox.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(sandbox: Sandbox, service: subprocess.Popen[bytes]) -> None:
    """Block until GET /health/ready answers 200; raise if the service exits or never gets ready."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError(f"`billing up` exited {service.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(sandbox.base_url + "/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"`billing up` not ready after {READY_TIMEOUT_S:.0f} s")


def stop_service(service: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the service's process group, SIGKILL it if it does not stop within 20 s."""
    if service is None or service.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGTERM)
    try:
        service.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGKILL)
        service.wait(5)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of the service log."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


class Session:
    """One run's sandbox from creation to clean-up, as a context manager.

    Entering creates the vhost and runs `billing migrate`. `start()` starts `billing up` and waits until
    it is ready; `stop()` stops it. Leaving always stops the service, drops the database and deletes the
    vhost, also after errors, and prints the tail of the service log when an exception is on its way out.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.service: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Session:
        try:
            add_vhost(self.sandbox)
            billing(self.sandbox, "migrate")
        except BaseException:
            self._tear_down()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is not None and issubclass(kind, Exception):
            print(f"\nthe benchmark failed; tail of the service log ({self.sandbox.log_path}):", file=sys.stderr)
            print(log_tail(self.sandbox.log_path), file=sys.stderr)
        self._tear_down()

    def start(self) -> None:
        """Start `billing up` and block until it answers /health/ready."""
        self.service = start_service(self.sandbox)
        print(
            f"billing up (pid {self.service.pid}) on {self.sandbox.base_url}, log {self.sandbox.log_path}",
            file=sys.stderr,
        )
        wait_ready(self.sandbox, self.service)

    def stop(self) -> None:
        """Stop `billing up` (a no-op when it is not running)."""
        stop_service(self.service)

    def _tear_down(self) -> None:
        """Stop the service, drop the database and delete the vhost, whatever happened before."""
        self.stop()
        try:
            asyncio.run(drop_database(self.sandbox))
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"could not drop database {self.sandbox.name}: {exc}", file=sys.stderr)
        delete_vhost(self.sandbox)


# ---------------------------------------------------------------- results and the entry point


def utc_stamp() -> str:
    """Now in UTC, as used in the results' file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def write_results(document: dict[str, Any], name: str) -> Path:
    """Write the JSON document to bench/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    """Turn SIGTERM into SystemExit so the clean-up runs."""
    raise SystemExit(143)


def run(benchmark: Callable[[Sandbox], None]) -> int:
    """Run a benchmark once in a new sandbox; SIGTERM and Ctrl-C unwind through its clean-up."""
    signal.signal(signal.SIGTERM, on_sigterm)
    sandbox = new_sandbox()
    try:
        benchmark(sandbox)
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    return 0
