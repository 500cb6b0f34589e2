"""Each command type declares its routing key; the queues' bindings and the workers' dispatch tables follow it."""

from __future__ import annotations

from shared.broker.topology import WORK_QUEUES
from shared.cli.asyncapi import PUBLIC_COMMANDS, command_routes
from shared.domain.events import EventType
from shared.messages import GATEWAY_COMMANDS, PROCESSOR_COMMANDS, REFUNDS_COMMANDS


def bound(binding: str, key: str) -> bool:
    return binding == key or (binding.endswith(".#") and key.startswith(binding[:-1]))


def test_every_dispatched_key_is_its_message_types_own_and_reaches_its_queue() -> None:
    routes = command_routes()
    for work, schemas in routes.items():
        assert schemas, work.name
        for key, schema in schemas.items():
            assert schema.routing_key == key
            assert any(bound(binding, key) for binding in work.routing_keys), f"{key} never reaches {work.name}"


def test_the_queues_bind_exactly_the_declared_keys() -> None:
    declared = {m.routing_key for m in (*PROCESSOR_COMMANDS, *REFUNDS_COMMANDS)} | {GATEWAY_COMMANDS}
    assert {key for work in WORK_QUEUES for key in work.routing_keys} == declared
    assert len(declared) == len(PROCESSOR_COMMANDS) + len(REFUNDS_COMMANDS) + 1, "two types share a key"


def test_public_commands_are_the_contracts() -> None:
    assert {"transaction.create", "transaction.complete", "transaction.cancel", "refund.request"} == PUBLIC_COMMANDS


def test_an_event_travels_under_its_type() -> None:
    assert {kind.routing_key for kind in EventType} == {kind.value for kind in EventType}
