"""Where the service may send a request that a tenant chose the address of: public https hosts only.

A URL is checked twice. When it is configured (`check_url`: https, no query or fragment, no credentials,
and every address its host resolves to public) and again when connecting (`guarded_transport`: the
address actually dialled, so a DNS answer that changed since cannot slip past). Redirects are never
followed by the clients built here. `allow_private` (the operator's setting for sandboxes and tests)
lifts both checks and admits plain http.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

ALLOW_PRIVATE_PROVIDERS_ENV = "BILLING_PROVIDERS_ALLOW_PRIVATE"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(ValueError):
    """A URL or an address the service refuses to send a request to."""


def providers_allow_private() -> bool:
    """The operator's setting: provider URLs may be http and private (sandboxes and tests only)."""
    return os.environ.get(ALLOW_PRIVATE_PROVIDERS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address: never loopback, private, link-local, metadata, reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def check_address(host: str) -> IPAddress:
    """The host's address if it is a public one; otherwise UnsafeDestination."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if not is_public(address):
        raise UnsafeDestination(f"{host} is not a public address")
    return address


def check_url_form(url: str, *, allow_private: bool, allow_query: bool = False) -> str:
    """The URL's host after the checks that need no DNS: scheme, host, no credentials, query or fragment.

    A provider's base URL takes no query (a tenant's `?` or `#` would cut off the path we append); a URL we
    POST to as it is (a merchant's endpoint) may carry one."""
    parts = urlsplit(url)
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise UnsafeDestination("must be an https URL")
    if not parts.hostname:
        raise UnsafeDestination("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestination("must not carry credentials")
    if not allow_query and (parts.query or parts.fragment or url.rstrip().endswith(("?", "#"))):
        raise UnsafeDestination("must not have a query or a fragment")
    if parts.fragment or url.rstrip().endswith("#"):
        raise UnsafeDestination("must not have a fragment")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise UnsafeDestination("has a malformed port") from None
    return parts.hostname


def resolve(host: str) -> list[str]:
    """Every address the host resolves to (an address literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeDestination(f"{host} does not resolve") from None
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, allow_private: bool | None = None, allow_query: bool = False) -> str:
    """The URL unchanged if the service may call it; otherwise UnsafeDestination saying why."""
    private_ok = providers_allow_private() if allow_private is None else allow_private
    host = check_url_form(url, allow_private=private_ok, allow_query=allow_query)
    if not private_ok:
        for address in resolve(host):
            check_address(address)
    return url


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses any non-public address, and dials the checked address."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise httpcore.ConnectError(f"{host} does not resolve") from None
        addresses = [str(info[4][0]) for info in infos]
        try:
            for address in addresses:
                check_address(address)
        except UnsafeDestination as exc:
            raise httpcore.ConnectError(f"refused to connect: {exc}") from None
        # TLS still names and verifies the host: httpcore starts TLS with the origin's host name.
        return await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not a provider address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    *, allow_private: bool | None = None, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that connects only to public addresses (unless private ones are allowed)."""
    private_ok = providers_allow_private() if allow_private is None else allow_private
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
    if not private_ok:
        ssl_context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        # httpx takes no network backend of its own; its pool is the documented httpcore one.
        transport._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=GuardedNetworkBackend())
    return transport


def guarded_client(
    *, allow_private: bool | None = None, verify: ssl.SSLContext | bool = True, **kwargs: Any
) -> httpx.AsyncClient:
    """An httpx client for tenant-chosen URLs: guarded transport, no redirects, no proxies from the environment."""
    return httpx.AsyncClient(
        transport=guarded_transport(allow_private=allow_private, verify=verify),
        follow_redirects=False,
        trust_env=False,
        **kwargs,
    )
