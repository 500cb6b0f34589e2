"""BILLING_AMQP_URL: one URL or the comma-separated nodes of a cluster; the failover walks the list in turn."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from shared.broker.connection import failover_class, split_urls
from shared.settings import ConfigurationError, Settings, load_settings

NODES = "amqp://guest:guest@127.0.0.1:5681/, amqp://guest:guest@127.0.0.1:5682/,amqp://guest:guest@127.0.0.1:5683/"


def test_several_urls_are_accepted_and_split_in_order() -> None:
    settings = Settings(amqp_url=NODES)
    assert split_urls(settings.amqp_url) == [f"amqp://guest:guest@127.0.0.1:{port}/" for port in (5681, 5682, 5683)]


def test_one_bad_url_among_several_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_AMQP_URL", "amqp://127.0.0.1:5681/,http://127.0.0.1:5682/")
    with pytest.raises(ConfigurationError, match="BILLING_AMQP_URL"):
        load_settings()


async def test_every_new_attempt_goes_to_the_next_node() -> None:
    urls = split_urls(NODES)
    connection = failover_class(urls)(URL(urls[1]), asyncio.get_running_loop())
    tried = []
    for _ in range(4):
        connection.transport = None  # what aio-pika does right before each attempt
        tried.append(connection.url.port)
    assert tried == [5682, 5683, 5681, 5682]
