"""The egress guard refuses non-public destinations when configured and again when connecting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.security.egress import UnsafeDestination, check_url, guarded_client

REFUSED = [
    "http://api.example.com/",  # plain http
    "https://127.0.0.1/",
    "https://localhost/",
    "https://10.0.0.8/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://[::1]/",
    "https://[fe80::1]/",
    "https://[fd00::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://224.0.0.1/",
    "https://8.8.8.8/path?x=1",  # a query picks another path
    "https://8.8.8.8/path#frag",
    "https://8.8.8.8/path#",
    "https://user:pw@8.8.8.8/",
    "ftp://8.8.8.8/",
    "https:///nohost",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused_when_configured(url: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_url(url, allow_private=False)


def test_public_literal_accepted_and_private_allowed_by_the_setting() -> None:
    assert check_url("https://8.8.8.8/api", allow_private=False) == "https://8.8.8.8/api"
    assert check_url("http://127.0.0.1:9000/api", allow_private=True) == "http://127.0.0.1:9000/api"
    with pytest.raises(UnsafeDestination):
        check_url("http://127.0.0.1:9000/api?x", allow_private=True)


@pytest.fixture
async def local_server() -> AsyncIterator[int]:
    hits: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port


async def test_connecting_to_a_private_address_is_refused_at_connect_time(local_server: int) -> None:
    # "localhost" passes no configure-time check here: the connect-time guard alone must refuse it.
    async with guarded_client(allow_private=False) as client:
        with pytest.raises(httpx.ConnectError, match="refused to connect"):
            await client.get(f"http://localhost:{local_server}/")


async def test_allowed_private_connects_and_never_follows_redirects(local_server: int) -> None:
    async with guarded_client(allow_private=True) as client:
        answer = await client.get(f"http://127.0.0.1:{local_server}/")
    assert answer.status_code == 302  # not followed to its Location


def test_a_url_posted_to_as_it_is_may_carry_a_query_but_no_fragment() -> None:
    assert check_url("https://8.8.8.8/hooks?token=abc", allow_private=False, allow_query=True)
    with pytest.raises(UnsafeDestination, match="fragment"):
        check_url("https://8.8.8.8/hooks#x", allow_private=False, allow_query=True)
    with pytest.raises(UnsafeDestination):
        check_url("https://127.0.0.1/hooks?token=abc", allow_private=False, allow_query=True)
