"""Click's Merchant API (we call Click): payment status and full reversal, with short bounded retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from shared.gateways.base import ProviderRejected, ProviderUnavailable, answer_code
from shared.gateways.click.config import ClickConfig
from shared.gateways.click.sign import auth_header
from shared.security.egress import guarded_transport


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter exponential backoff; with the defaults a call gives up within about 20 s."""

    attempts: int = 4
    multiplier_s: float = 0.25
    max_wait_s: float = 2.0
    timeout_s: float = 4.0


@dataclass(frozen=True, slots=True)
class MerchantAnswer:
    """Click's answer body: `error_code` 0 is success; the payment fields are there when Click sends them."""

    error_code: int
    error_note: str
    """Click's own words: for operators' logs only, never recorded where a tenant reads it."""
    payment_id: int | None = None
    payment_status: int | None = None
    amount: Decimal | None = None
    """The payment's amount in sum, when Click's status answer carries one (read exactly, never as a float)."""


class _Transient(Exception):
    """A timeout, a 5xx or a 429: the only failures retried in-process."""


class MerchantApi:
    def __init__(
        self,
        config: ClickConfig,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._transport = transport

    async def payment_status(self, payment_id: int) -> MerchantAnswer:
        return await self._call("GET", f"payment/status/{self._config.service_id}/{payment_id}")

    async def reversal(self, payment_id: int) -> MerchantAnswer:
        """Cancel a successful card payment in full (Click has no partial refund)."""
        return await self._call("DELETE", f"payment/reversal/{self._config.service_id}/{payment_id}")

    async def submit_items(self, body: dict[str, Any]) -> MerchantAnswer:
        """Fiscalise a paid payment's items (`payment/ofd_data/submit_items`); a non-zero `error_code` is tried
        again like a 5xx, and after the last attempt it is the answer (a 4xx raises ProviderRejected)."""
        return await self._call("POST", "payment/ofd_data/submit_items", body, retry_refusals=True)

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, retry_refusals: bool = False
    ) -> MerchantAnswer:
        policy = self._policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_random_exponential(multiplier=policy.multiplier_s, max=policy.max_wait_s),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        refused: MerchantAnswer | None = None
        # api_base is the tenant's choice: public addresses only (the guarded transport), never a redirect.
        async with httpx.AsyncClient(
            base_url=self._config.api_base,
            timeout=policy.timeout_s,
            transport=self._transport or guarded_transport(),
            follow_redirects=False,
            trust_env=False,
        ) as http:
            try:
                async for attempt in retrying:
                    with attempt:
                        answer = await self._once(http, method, path, body)
                        if retry_refusals and answer.error_code != 0:
                            refused = answer
                            raise _Transient(f"error_code {answer.error_code}: {answer.error_note}")
                        return answer
            except _Transient as exc:
                if refused is not None and str(exc).startswith("error_code"):
                    return refused
                raise ProviderUnavailable(f"Click {method} {path}: {exc} (after {policy.attempts} attempts)") from exc
        raise ProviderUnavailable(f"Click {method} {path}: no attempt was made")  # pragma: no cover

    async def _once(
        self, http: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None = None
    ) -> MerchantAnswer:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            # A fresh timestamp per attempt: Click checks that it is current.
            "Auth": auth_header(self._config.merchant_user_id, self._config.secret_key, int(self._clock())),
        }
        try:
            response = await http.request(method, path, headers=headers, json=body)
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            # Not retried here (only timeouts, 5xx and 429 are); the message-level retry tries again later.
            raise ProviderUnavailable(f"Click {method} {path}: {exc!r}") from exc
        code = response.status_code
        if code == 429 or code >= 500:
            raise _Transient(f"HTTP {code}")
        if 400 <= code < 500:
            raise ProviderRejected(
                f"Click refused {method} {path} with HTTP {code}: {response.text[:200]}", note=_refusal_note(response)
            )
        if not 200 <= code < 300:
            raise ProviderUnavailable(f"Click {method} {path}: unexpected HTTP {code}")
        return _answer(response)


def _refusal_note(response: httpx.Response) -> str:
    """What a tenant sees of a 4xx: the status and Click's error code, never the body's text."""
    note = f"click refused: HTTP {response.status_code}"
    try:
        body: Any = response.json()
    except ValueError:
        return note
    code = answer_code(body.get("error_code")) if isinstance(body, dict) else None
    return f"{note}, error {code}" if code is not None else note


def _answer(response: httpx.Response) -> MerchantAnswer:
    try:
        body: Any = response.json(parse_float=Decimal)
    except ValueError:
        raise ProviderUnavailable(f"Click answered HTTP {response.status_code} without JSON") from None
    error_code = _integer(body.get("error_code")) if isinstance(body, dict) else None
    if not isinstance(body, dict) or error_code is None:
        raise ProviderUnavailable(f"Click's answer (HTTP {response.status_code}) has no error_code")
    return MerchantAnswer(
        error_code=error_code,
        error_note=str(body.get("error_note") or ""),
        payment_id=_integer(body.get("payment_id")),
        payment_status=_integer(body.get("payment_status")),
        amount=_sum(body.get("amount")),
    )


def _sum(value: Any) -> Decimal | None:
    """A sum as Click writes it (`15000.00`, a number or a string); None when absent or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _integer(value: Any) -> int | None:
    """Click sends its ids as numbers or as digit strings (bigint); never a bool or a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None
