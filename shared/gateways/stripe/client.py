"""One StripeClient per gateway account, and the retry and error policy around every call to Stripe."""

from __future__ import annotations

import hashlib
import logging
import ssl
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import stripe
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from shared.gateways.base import GatewayAccount, ProviderRejected, ProviderUnavailable, answer_code
from shared.gateways.stripe.config import config_of
from shared.security.egress import guarded_client

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 4
"""Calls per operation in this process (the library's own retries are off); then the message is retried later."""
TIMEOUT_S = 20.0
MAX_CLIENTS = 256


def is_transient(exc: BaseException) -> bool:
    """Worth another try: timeouts and connection errors, 429 and 5xx; never another 4xx."""
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    if isinstance(exc, stripe.StripeError):
        status = exc.http_status
        return status is not None and (status == 429 or status >= 500)
    return False


def translate(exc: stripe.StripeError, what: str) -> ProviderUnavailable | ProviderRejected:
    status = exc.http_status
    message = exc.user_message or str(exc) or type(exc).__name__
    # 409: another request with the same idempotency key is still running at Stripe; try again later.
    if is_transient(exc) or status == 409 or status is None:
        log.warning("stripe did not answer", extra={"call": what, "status": status, "why": message})
        return ProviderUnavailable(f"Stripe did not answer {what} (HTTP {status})")
    code = f"{exc.code}: " if exc.code else ""
    shown = answer_code(exc.code)
    note = f"stripe refused {what}: HTTP {status}" + (f", {shown}" if shown else "")
    return ProviderRejected(f"Stripe refused {what}: {code}{message} (HTTP {status})", note=note)


class GuardedHTTPXClient(stripe.HTTPXClient):
    """Stripe's httpx client, its async client swapped for one that dials public addresses only.

    api_base is the tenant's choice, and the account's secret key goes with every request. The swap keeps
    the library's certificate checking (its own CA bundle) and follows no redirect.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        verify: ssl.SSLContext | bool = False
        if self._verify_ssl_certs:
            verify = ssl.create_default_context(cafile=stripe.ca_bundle_path)
        self._client_async = guarded_client(verify=verify)


class StripeCalls:
    """Clients by account id and credentials (a rotated key gets a new client), each call retried by policy."""

    def __init__(self, attempts: int = ATTEMPTS, max_wait_s: float = 4.0, max_clients: int = MAX_CLIENTS) -> None:
        self._attempts = attempts
        self._max_wait_s = max_wait_s
        self._max_clients = max_clients
        self._clients: OrderedDict[tuple[uuid.UUID, str], stripe.StripeClient] = OrderedDict()
        self._transports: dict[tuple[uuid.UUID, str], stripe.HTTPXClient] = {}

    async def client(self, account: GatewayAccount) -> stripe.StripeClient:
        config = config_of(account)
        fingerprint = hashlib.sha256(f"{config.api_key}\n{config.api_base}".encode()).hexdigest()
        key = (account.id, fingerprint)
        found = self._clients.get(key)
        if found is not None:
            self._clients.move_to_end(key)
            return found
        transport = GuardedHTTPXClient(timeout=TIMEOUT_S)
        client = stripe.StripeClient(
            config.api_key,
            base_addresses={"api": config.api_base},
            http_client=transport,
            max_network_retries=0,  # tenacity below is the one retry policy, so attempts are counted once
        )
        self._clients[key] = client
        self._transports[key] = transport
        while len(self._clients) > self._max_clients:
            old, _ = self._clients.popitem(last=False)
            transport_of_old: Any = self._transports.pop(old)  # the library leaves close_async untyped
            await transport_of_old.close_async()
        return client

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Stripe call with bounded exponential backoff and jitter; map failures to our two errors."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.2, max=self._max_wait_s),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await operation()
        except stripe.StripeError as exc:
            log.warning("stripe call failed", extra={"call": what, "status": exc.http_status, "code": exc.code})
            raise translate(exc, what) from exc
        raise AssertionError("tenacity ends by returning or raising")  # pragma: no cover


def bound(method: Callable[..., Awaitable[T]], params: dict[str, Any]) -> Callable[[], Awaitable[T]]:
    """A call with its parameters fixed now (a lambda in a loop would see the loop's last ones)."""
    return lambda: method(params=cast(Any, params))
