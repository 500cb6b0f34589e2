"""Where the daily rates come from: a plug-in under the `billing.rates_sources` entry points, `cbu` built in."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from shared.domain.exchange import InvalidRate, Rate
from shared.rates.formats import parse_cbu
from shared.security.egress import UnsafeDestination, check_url_form, guarded_client, providers_allow_private
from shared.settings import ConfigurationError, Settings

ENTRY_POINT_GROUP = "billing.rates_sources"
CBU_URL = "https://cbu.uz/uz/arkhiv-kursov-valyut/json/all/{date}/"
"""The CBU's archive: every currency's rate for one date (`{date}` is YYYY-MM-DD)."""
log = logging.getLogger(__name__)


class RatesUnavailable(Exception):
    """The source could not be read now (timeouts, 5xx, 429 after the retries, or an unreadable answer)."""


@runtime_checkable
class RateSource(Protocol):
    """A plug-in: built with the configured URL (or None for its own default), fetches one day's rates."""

    name: str

    async def fetch(self, day: date) -> list[Rate]: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    multiplier_s: float = 0.5
    max_wait_s: float = 8.0
    timeout_s: float = 10.0


class _Transient(Exception):
    """A timeout, a 5xx or a 429: the failures worth another attempt."""


class CbuSource:
    """The Central Bank of Uzbekistan's JSON list, over httpx with bounded retries (tenacity)."""

    name = "cbu"

    def __init__(
        self,
        url: str | None = None,
        *,
        policy: RetryPolicy | None = None,
        allow_private: bool | None = None,
    ) -> None:
        self._url = url or CBU_URL
        self._policy = policy or RetryPolicy()
        self._allow_private = allow_private
        # The form only: the address is checked when connecting (no DNS lookup at start).
        private_ok = providers_allow_private() if allow_private is None else allow_private
        check_url_form(self._url.replace("{date}", "2000-01-01"), allow_private=private_ok)

    async def fetch(self, day: date) -> list[Rate]:
        url = self._url.replace("{date}", day.isoformat())
        policy = self._policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_random_exponential(multiplier=policy.multiplier_s, max=policy.max_wait_s),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        async with guarded_client(allow_private=self._allow_private, timeout=policy.timeout_s) as http:
            try:
                async for attempt in retrying:
                    with attempt:
                        return await self._once(http, url)
            except _Transient as exc:
                raise RatesUnavailable(f"cbu {url}: {exc} (after {policy.attempts} attempts)") from exc
        raise RatesUnavailable(f"cbu {url}: no attempt was made")  # pragma: no cover

    @staticmethod
    async def _once(http: httpx.AsyncClient, url: str) -> list[Rate]:
        try:
            response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            # Not retried here (only timeouts, 5xx and 429 are); the scheduler tries again later.
            raise RatesUnavailable(f"cbu {url}: {exc!r}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise RatesUnavailable(f"cbu {url}: HTTP {response.status_code}")
        try:
            return parse_cbu(response.json())
        except (ValueError, InvalidRate) as exc:
            raise RatesUnavailable(f"cbu {url}: unreadable answer: {exc}") from exc


def configured_source(settings: Settings) -> RateSource | None:
    """The scheduled fetch's source, or None when BILLING_RATES_SOURCE is empty; bad settings name the variable."""
    if not settings.rates_source:
        return None
    try:
        source = load_source(settings.rates_source, settings.rates_url)
    except UnsafeDestination as exc:
        raise ConfigurationError(f"BILLING_RATES_URL: {exc}") from None
    except Exception as exc:
        raise ConfigurationError(f"BILLING_RATES_SOURCE: {exc}") from None
    return source


def load_source(name: str, url: str | None) -> RateSource:
    """The source named by BILLING_RATES_SOURCE: built in, or an installed `billing.rates_sources` plug-in."""
    if name == CbuSource.name:
        return CbuSource(url)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            source = point.load()(url)
            if not isinstance(source, RateSource):
                raise ValueError(f"rate source plug-in {name!r} has no `name` and `fetch(day)`")
            return source
    known = sorted({CbuSource.name, *(p.name for p in entry_points(group=ENTRY_POINT_GROUP))})
    raise ValueError(f"unknown rate source {name!r}; known: {', '.join(known)}")
