"""A three-node RabbitMQ cluster on this machine, for tests and for people: `up` and `down` (stdlib only).

Each node has its own node name, AMQP, distribution and management ports, data, log and config files under
one folder (BILLING_CLUSTER_DIR, default <tmp>/billing-cluster) and the cluster's own Erlang cookie in a
HOME of its own; the machine's broker (rabbit@localhost on 5672) is never touched. EPMD is shared.

    deploy/cluster/up     start (or restart the stopped nodes of) the cluster; prints its JSON description:
                          {"amqp_urls": [...], "nodes": ["billing-c1@localhost", ...], "pids": [...], "dir": ...}
    deploy/cluster/down   stop the nodes and remove the folder

Settings: BILLING_CLUSTER_DIR, BILLING_CLUSTER_NAME (node name prefix, default billing-c: billing-c1@localhost),
BILLING_CLUSTER_PORT (first AMQP port tried, default 5681; distribution ports from +20000, management from
+10000, the first free ones), BILLING_CLUSTER_MANAGEMENT (1, the default, or 0 for no management plugin).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NODES = 3
HOST = "localhost"
STATE = "cluster.json"
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
CLI_TIMEOUT_S = 120


class ClusterError(Exception):
    """Why the cluster could not be started or stopped, in one line."""


def folder() -> Path:
    return Path(os.environ.get("BILLING_CLUSTER_DIR") or Path(tempfile.gettempdir()) / "billing-cluster")


def rabbitmq_bin() -> Path:
    """The scripts themselves, not Debian's wrapper, which would switch to the rabbitmq user and its cookie."""
    packaged = Path("/usr/lib/rabbitmq/bin")
    if (packaged / "rabbitmq-server").exists():
        return packaged
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise ClusterError("rabbitmq-server not found (install RabbitMQ, or use deploy/cluster/compose.yaml)")
    return Path(found).resolve().parent


def free_port(start: int, taken: set[int]) -> int:
    for port in range(start, start + 1000):
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise ClusterError(f"no free port from {start}")


def plan(base: Path) -> dict[str, Any]:
    """Node names, ports and paths of a new cluster."""
    prefix = os.environ.get("BILLING_CLUSTER_NAME", "billing-c")
    first = int(os.environ.get("BILLING_CLUSTER_PORT", "5681"))
    management = os.environ.get("BILLING_CLUSTER_MANAGEMENT", "1") != "0"
    taken: set[int] = set()
    nodes = []
    for index in range(1, NODES + 1):
        home = base / f"node{index}"
        nodes.append(
            {
                "name": f"{prefix}{index}@{HOST}",
                "amqp_port": free_port(first + index - 1, taken),
                "dist_port": free_port(first + 20000 + index - 1, taken),
                "management_port": free_port(first + 10000 + index - 1, taken) if management else None,
                "dir": str(home),
                "pid_file": str(home / "node.pid"),
            }
        )
    return {"nodes": nodes, "management": management}


def write_files(base: Path, state: dict[str, Any]) -> None:
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    cookie = home / ".erlang.cookie"
    cookie.write_text(secrets.token_hex(20))
    cookie.chmod(0o400)
    (base / "rabbitmq-env.conf").write_text("# the cluster's own (empty): not the machine's NODENAME\n")
    (base / "enabled_plugins").write_text("[rabbitmq_management].\n" if state["management"] else "[].\n")
    for node in state["nodes"]:
        node_dir = Path(node["dir"])
        (node_dir / "mnesia").mkdir(parents=True, exist_ok=True)
        (node_dir / "log").mkdir(parents=True, exist_ok=True)
        lines = [f"listeners.tcp.1 = 127.0.0.1:{node['amqp_port']}", "loopback_users.guest = true"]
        if node["management_port"] is not None:
            lines += ["management.tcp.ip = 127.0.0.1", f"management.tcp.port = {node['management_port']}"]
        (node_dir / "rabbitmq.conf").write_text("\n".join(lines) + "\n")


def cli_env(base: Path) -> dict[str, str]:
    """What the node and the CLI share: the cookie's HOME, the env file, EPMD on the loopback only."""
    return {
        **os.environ,
        "HOME": str(base / "home"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }


def node_env(base: Path, node: dict[str, Any]) -> dict[str, str]:
    node_dir = Path(node["dir"])
    return {
        **cli_env(base),
        "RABBITMQ_NODENAME": node["name"],
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(node["amqp_port"]),
        "RABBITMQ_DIST_PORT": str(node["dist_port"]),
        "RABBITMQ_MNESIA_BASE": str(node_dir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(node_dir / "log"),
        "RABBITMQ_PID_FILE": node["pid_file"],
        "RABBITMQ_CONFIG_FILE": str(node_dir / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(node_dir / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }


def ctl(base: Path, node: str, *args: str, timeout: float = CLI_TIMEOUT_S) -> str:
    command = [str(rabbitmq_bin() / "rabbitmqctl"), "-q", "-n", node, *args]
    try:
        done = subprocess.run(command, env=cli_env(base), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"rabbitmqctl {' '.join(args)} on {node}: no answer in {timeout:.0f} s") from None
    if done.returncode != 0:
        why = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise ClusterError(f"rabbitmqctl {' '.join(args)} on {node}: {why[-1] if why else done.returncode}")
    return done.stdout


def pid_of(node: dict[str, Any]) -> int | None:
    """The node's process id while it runs (from the pid file RabbitMQ writes), else None."""
    try:
        pid = int(Path(node["pid_file"]).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start_node(base: Path, node: dict[str, Any]) -> None:
    """Start one node in the background (its own session: the caller's signals do not reach it)."""
    Path(node["pid_file"]).unlink(missing_ok=True)
    log = open(Path(node["dir"]) / "log" / "console.log", "ab")  # noqa: SIM115 - the node owns it
    subprocess.Popen(
        [str(rabbitmq_bin() / "rabbitmq-server")],
        env=node_env(base, node),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        cwd=node["dir"],
    )


def wait_started(base: Path, node: dict[str, Any]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not Path(node["pid_file"]).exists():
        if time.monotonic() > deadline:
            raise ClusterError(f"{node['name']} did not start: see {node['dir']}/log")
        time.sleep(0.2)
    ctl(base, node["name"], "wait", node["pid_file"], "--timeout", str(START_TIMEOUT_S))


def up(base: Path) -> dict[str, Any]:
    """Start the cluster, or the nodes of an existing one that are not running; return its description."""
    state_file = base / STATE
    fresh = not state_file.exists()
    if fresh:
        base.mkdir(parents=True, exist_ok=True)
        state = plan(base)
        write_files(base, state)
        state_file.write_text(json.dumps(state, indent=2))
    else:
        state = json.loads(state_file.read_text())
    stopped = [node for node in state["nodes"] if pid_of(node) is None]
    for node in stopped:
        start_node(base, node)
    for node in stopped:
        wait_started(base, node)
    if fresh:
        seed = state["nodes"][0]["name"]
        for node in state["nodes"][1:]:
            ctl(base, node["name"], "stop_app")
            ctl(base, node["name"], "join_cluster", seed)
            ctl(base, node["name"], "start_app")
    return describe(state)


def describe(state: dict[str, Any]) -> dict[str, Any]:
    """What `up` prints: lists in node order (the node names are what `rabbitmqctl -n` takes)."""
    nodes = state["nodes"]
    described: dict[str, Any] = {
        "amqp_urls": [f"amqp://guest:guest@127.0.0.1:{node['amqp_port']}/" for node in nodes],
        "nodes": [node["name"] for node in nodes],
        "pids": [pid_of(node) for node in nodes],
        "dir": str(Path(nodes[0]["dir"]).parent),
    }
    if state["management"]:
        described["management_urls"] = [f"http://127.0.0.1:{node['management_port']}/" for node in nodes]
    return described


def down(base: Path) -> None:
    """Stop every node (SIGTERM, then SIGKILL after a while) and remove the folder."""
    state_file = base / STATE
    if not state_file.exists():
        raise ClusterError(f"no cluster at {base} (nothing to stop)")
    state = json.loads(state_file.read_text())
    running = [pid for pid in (pid_of(node) for node in state["nodes"]) if pid is not None]
    for pid in running:
        os.kill(pid, signal.SIGTERM)  # the Erlang VM stops RabbitMQ cleanly on SIGTERM
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for pid in running:
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(base)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A stopped child of ours lingers as a zombie until reaped: reap it if it is ours.
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists() and not _zombie(pid)
    return reaped == 0


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def main(command: str) -> int:
    base = folder()
    try:
        if command == "up":
            print(json.dumps(up(base)))
        else:
            down(base)
    except (ClusterError, OSError, ValueError) as exc:
        print(f"cluster {command}: {exc}", file=sys.stderr)
        return 1
    return 0
