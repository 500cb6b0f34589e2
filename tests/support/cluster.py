"""The distributed system on one machine, for tests/cluster and bench/cluster.py: a three-node RabbitMQ cluster
(deploy/cluster/up), a streaming read replica, and the services as replicas behind a round-robin.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from shared.settings import Settings
from tests.support.system import System, free_port, service_env

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "cluster"
START_TIMEOUT_S = 240.0
"""Eight Python processes starting at once on two busy cores take their time."""


def _scripts() -> ModuleType:
    """deploy/cluster/rabbit_cluster.py (not a package: loaded from its path), for its rabbitmqctl helper."""
    spec = importlib.util.spec_from_file_location("rabbit_cluster", DEPLOY / "rabbit_cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class RabbitCluster:
    """deploy/cluster/up and down on a folder and node names of this run's own (other runs may be up too)."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="billing-cluster-")) / "cluster")
    prefix: str = field(default_factory=lambda: f"billing-t{uuid.uuid4().hex[:6]}-")
    described: dict[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BILLING_CLUSTER_DIR": str(self.folder),
            "BILLING_CLUSTER_NAME": self.prefix,
            "BILLING_CLUSTER_MANAGEMENT": "0",  # not needed here, and it costs each node CPU
        }

    def up(self) -> dict[str, Any]:
        """Start the cluster, or restart its stopped nodes."""
        done = subprocess.run([str(DEPLOY / "up")], env=self.env, capture_output=True, text=True, timeout=400)
        if done.returncode != 0:
            raise RuntimeError(f"deploy/cluster/up failed: {done.stderr.strip()}")
        self.described = json.loads(done.stdout)
        return self.described

    def down(self) -> None:
        subprocess.run([str(DEPLOY / "down")], env=self.env, capture_output=True, text=True, timeout=120)
        shutil.rmtree(self.folder.parent, ignore_errors=True)  # the temporary folder `up` was given

    @property
    def amqp_url(self) -> str:
        """BILLING_AMQP_URL for the whole cluster: its three nodes, comma-separated."""
        return ",".join(self.described["amqp_urls"])

    @property
    def nodes(self) -> list[str]:
        names: list[str] = self.described["nodes"]
        return names

    def kill(self, index: int) -> None:
        """SIGKILL one node: no clean shutdown, no handover."""
        pid = int(self.described["pids"][index])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def ctl(self, *args: str, node: int = 0) -> str:
        text: str = _scripts().ctl(self.folder, self.nodes[node], *args)
        return text

    def queues(self, node: int = 0) -> list[dict[str, Any]]:
        """Every queue of the default vhost with its type, ready and unacked messages, and quorum members."""
        listed = self.ctl("list_queues", "name", "type", "messages", "members", "--formatter", "json", node=node)
        found: list[dict[str, Any]] = json.loads(listed)
        return found


@dataclass
class Fleet:
    """Replicas of each service, each a `billing <service>` process with ports of its own, on one database."""

    settings: Settings
    read_url: str | None
    ingress: list[System] = field(default_factory=list)
    workers: list[System] = field(default_factory=list)

    def _system(self) -> System:
        port = free_port()
        env = service_env(self.settings, port)
        if self.read_url:
            env["BILLING_DATABASE_READ_URL"] = self.read_url
        env["BILLING_DB_POOL_SIZE"] = (
            "4"  # eight processes share the machine's PostgreSQL (100 connections) with others
        )
        # The load is one API key standing for many shops, faster than any one client may go: the per-key
        # limit (tests/e2e/test_rate_limits.py) would answer 429, which this fault test does not look at.
        env["BILLING_RATE_LIMIT_RPS"] = "100000"
        env["BILLING_RATE_LIMIT_BURST"] = "100000"
        return System(env=env, port=port)

    def start(self, ingress: int, workers: dict[str, int]) -> None:
        """`ingress` ingress replicas, and of each worker (processor, refunds, ...) the number given."""
        for _ in range(ingress):
            system = self._system()
            system.start("ingress")
            self.ingress.append(system)
        for name, count in workers.items():
            for index in range(count):
                while len(self.workers) <= index:
                    self.workers.append(self._system())
                self.workers[index].start(name)
        for system in self.ingress:
            system.wait_ready(timeout=START_TIMEOUT_S)

    def backends(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", system.port) for system in self.ingress]

    def kill(self, name: str, replica: int) -> None:
        """SIGKILL one replica of a worker: whatever it held unacknowledged goes back to the queue."""
        self.workers[replica].kill(name)

    def stop(self) -> None:
        for system in [*self.ingress, *self.workers]:
            system.stop_all()
        self.ingress.clear()
        self.workers.clear()

    def exited(self) -> list[str]:
        """Replicas that died on their own (not killed by us): a crash under faults is a finding."""
        return [
            f"{name}: {system.tail(name, 15)}"
            for system in [*self.ingress, *self.workers]
            for name, process in system.processes.items()
            if process.poll() not in (None, -signal.SIGKILL)
        ]
