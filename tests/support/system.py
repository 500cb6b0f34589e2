"""The services as real processes (`billing ingress|processor|refunds|webhooks`), for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import Settings

SERVICES = ("ingress", "processor", "refunds", "webhooks")
WEBHOOKS_RETRY_SCHEDULE = "0.5,0.5,0.5,0.5,0.5"
"""Short, so a test sees a delivery's every attempt in seconds: six attempts about half a second apart."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(settings: Settings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "BILLING_DATABASE_URL": settings.database_url,
        "BILLING_AMQP_URL": settings.amqp_url,
        "BILLING_SECRET_KEY": settings.secret_key or "",
        "BILLING_HTTP_HOST": "127.0.0.1",
        "BILLING_HTTP_PORT": str(port),
        "BILLING_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BILLING_RETRY_DELAY_MS": str(settings.retry_delay_ms),
        "BILLING_MAX_ATTEMPTS": str(settings.max_attempts),
        "BILLING_SCHEDULER_INTERVAL_S": str(settings.scheduler_interval_s),
        "BILLING_DB_POOL_SIZE": "8",
        "BILLING_PROVIDERS_ALLOW_PRIVATE": "true",  # the fake providers listen on 127.0.0.1 over http
        "BILLING_NIGHTLY_RECONCILIATION": "false",  # a session crossing 02:00 UTC must not reconcile the fakes
        "BILLING_METRICS_PORT_INGRESS": str(free_port()),
        "BILLING_METRICS_PORT_PROCESSOR": str(free_port()),
        "BILLING_METRICS_PORT_REFUNDS": str(free_port()),
        "BILLING_METRICS_PORT_WEBHOOKS": str(free_port()),
        "BILLING_WEBHOOKS_ALLOW_PRIVATE": "true",  # the tests' receivers listen on 127.0.0.1
        "BILLING_WEBHOOKS_RETRY_SCHEDULE": WEBHOOKS_RETRY_SCHEDULE,
    }


@dataclass
class System:
    env: dict[str, str]
    port: int
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="billing-e2e-")))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics_url(self, name: str) -> str:
        """Where a service serves /metrics: each on its own metrics port, never the ingress' public one."""
        return f"http://127.0.0.1:{self.env[f'BILLING_METRICS_PORT_{name.upper()}']}/metrics"

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli.main", name], env=self.env, stdout=log, stderr=log
        )

    def start_all(self) -> None:
        for name in SERVICES:
            self.start(name)
        try:
            self.wait_ready()
        except BaseException:
            self.stop_all()  # never leave orphans behind a failed start
            raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.tail(name)}")
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=1).status_code == 200:
                    time.sleep(1.0)  # the workers subscribe in parallel; give them a moment
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"ingress not ready: {self.tail('ingress')}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        process.send_signal(sig)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
