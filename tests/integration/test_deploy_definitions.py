"""deploy/rabbitmq/definitions.json declares exactly what shared/broker/topology.py declares.

A queue preloaded with other arguments than the services declare makes RabbitMQ refuse their
redeclaration (PRECONDITION_FAILED), so the expectation is recorded from `declare_topology` itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractChannel, ExchangeType

from shared.broker.topology import declare_topology
from shared.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
VHOST = "/"

Binding = tuple[str, str, str, str]
"""(source exchange, destination, destination type, routing key)."""


@dataclass
class Recorded:
    exchanges: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)


@dataclass
class _Exchange:
    name: str


@dataclass
class _Queue:
    name: str
    recorded: Recorded

    async def bind(self, exchange: _Exchange, routing_key: str | None = None, **_: object) -> None:
        self.recorded.bindings.append((exchange.name, self.name, "queue", routing_key or self.name))

    async def unbind(self, exchange: _Exchange, routing_key: str | None = None, **_: object) -> None:
        binding = (exchange.name, self.name, "queue", routing_key or self.name)
        if binding in self.recorded.bindings:
            self.recorded.bindings.remove(binding)


@dataclass
class _RecordingChannel:
    """Stands in for an aio-pika channel and writes down what the topology declares."""

    recorded: Recorded

    async def declare_exchange(
        self,
        name: str,
        type: ExchangeType | str = ExchangeType.DIRECT,
        *,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
        **_: object,
    ) -> _Exchange:
        kind = type.value if isinstance(type, ExchangeType) else type
        self.recorded.exchanges[name] = {
            "type": kind,
            "durable": durable,
            "auto_delete": auto_delete,
            "internal": internal,
            "arguments": dict(arguments or {}),
        }
        return _Exchange(name)

    async def declare_queue(
        self,
        name: str | None = None,
        *,
        durable: bool = False,
        auto_delete: bool = False,
        exclusive: bool = False,
        arguments: dict[str, Any] | None = None,
        **_: object,
    ) -> _Queue:
        assert name, "the topology declares named queues only"
        assert not exclusive, "an exclusive queue cannot be preloaded"
        self.recorded.queues[name] = {
            "durable": durable,
            "auto_delete": auto_delete,
            "arguments": dict(arguments or {}),
        }
        return _Queue(name, self.recorded)


def typed(arguments: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Arguments with their JSON types, so 2000 and "2000" (or 4 and true) do not pass for equal."""
    return {key: (type(value).__name__, value) for key, value in arguments.items()}


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text()))


@pytest.fixture(scope="module")
async def expected() -> Recorded:
    """What the services declare at start, with the default retry delay (compose does not override it)."""
    recorded = Recorded()
    retry_delay_ms = Settings.model_fields["retry_delay_ms"].default
    assert isinstance(retry_delay_ms, int)
    await declare_topology(cast(AbstractChannel, _RecordingChannel(recorded)), retry_delay_ms)
    return recorded


def test_the_exchanges_are_those_of_the_topology(definitions: dict[str, Any], expected: Recorded) -> None:
    found = {
        item["name"]: {
            "type": item["type"],
            "durable": item["durable"],
            "auto_delete": item["auto_delete"],
            "internal": item["internal"],
            "arguments": item["arguments"],
        }
        for item in definitions["exchanges"]
    }
    assert len(found) == len(definitions["exchanges"]), "an exchange is defined twice"
    assert found == expected.exchanges
    assert "billing.events" in found, "the consumers bind their own queues to billing.events"


def test_the_queues_and_their_arguments_are_those_of_the_topology(
    definitions: dict[str, Any], expected: Recorded
) -> None:
    found = {item["name"]: item for item in definitions["queues"]}
    assert len(found) == len(definitions["queues"]), "a queue is defined twice"
    assert sorted(found) == sorted(expected.queues)
    for name, declared in expected.queues.items():
        queue = found[name]
        assert (queue["durable"], queue["auto_delete"]) == (declared["durable"], declared["auto_delete"]), name
        assert typed(queue["arguments"]) == typed(declared["arguments"]), name


def test_the_bindings_are_those_of_the_topology(definitions: dict[str, Any], expected: Recorded) -> None:
    found = [
        (item["source"], item["destination"], item["destination_type"], item["routing_key"])
        for item in definitions["bindings"]
    ]
    assert all(item["arguments"] == {} for item in definitions["bindings"])
    assert len(set(found)) == len(found), "a binding is defined twice"
    assert sorted(found) == sorted(expected.bindings)


def test_everything_lives_in_the_vhost_the_services_use_with_a_user_allowed_there(
    definitions: dict[str, Any],
) -> None:
    assert [vhost["name"] for vhost in definitions["vhosts"]] == [VHOST]
    for kind in ("exchanges", "queues", "bindings"):
        assert {item["vhost"] for item in definitions[kind]} == {VHOST}, kind
    amqp = Settings.model_fields["amqp_url"].default
    assert amqp == "amqp://guest:guest@127.0.0.1:5672/", "compose and definitions assume guest on vhost /"
    assert [user["name"] for user in definitions["users"]] == ["guest"]
    (grant,) = [p for p in definitions["permissions"] if p["user"] == "guest" and p["vhost"] == VHOST]
    assert (grant["configure"], grant["write"], grant["read"]) == (".*", ".*", ".*")


def test_rabbitmq_loads_the_file_that_compose_mounts() -> None:
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    compose = (DEPLOY / "compose.yaml").read_text()
    loaded = re.search(r"^load_definitions\s*=\s*(\S+)\s*$", conf, re.MULTILINE)
    assert loaded is not None
    assert f"./rabbitmq/definitions.json:{loaded.group(1)}:ro" in compose
    assert "./rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/" in compose
    # The delay queues' x-message-ttl above is the default; an override in compose would not match it.
    assert not re.search(r"^\s*BILLING_RETRY_DELAY_MS\s*:", compose, re.MULTILINE)
