"""deploy/cluster/compose.yaml parses and has the layout deploy/cluster/up starts: three clustered nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "deploy" / "cluster"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CLUSTER / "compose.yaml").read_text())
    return loaded


def test_three_nodes_with_their_own_data_and_loopback_ports() -> None:
    services = compose()["services"]
    assert sorted(services) == ["billing-c1", "billing-c2", "billing-c3"]
    published = [port for service in services.values() for port in service["ports"]]
    assert all(port.startswith("127.0.0.1:") for port in published), published
    assert len(set(published)) == len(published) == 6
    volumes = [next(v for v in s["volumes"] if v.endswith(":/var/lib/rabbitmq")) for s in services.values()]
    assert len(set(volumes)) == 3, "each node keeps its own data"
    assert all(s["hostname"] == name for name, s in services.items()), "the node name follows the hostname"


def test_the_nodes_share_a_cookie_and_discover_each_other() -> None:
    services = compose()["services"]
    cookies = {s["environment"]["RABBITMQ_ERLANG_COOKIE"] for s in services.values()}
    assert len(cookies) == 1 and "BILLING_CLUSTER_COOKIE" in cookies.pop()
    config = (CLUSTER / "rabbitmq-compose.conf").read_text()
    assert "peer_discovery_backend = classic_config" in config
    for name in services:
        assert f"= rabbit@{name}\n" in config


def test_the_scripts_are_executable() -> None:
    for script in ("up", "down"):
        assert (CLUSTER / script).stat().st_mode & 0o111, script
