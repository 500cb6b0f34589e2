"""URL fields of gateway account configs: which ones the service calls, and the checks each kind gets.

Two kinds. A provider URL (`api_base`) is where the service sends requests with the account's secrets: it
gets the egress guard's whole check (https, no query or fragment, public addresses only). A link URL
(`return_url`, `payment_url`, ...) is handed to a payer or a provider, never called by us: it must be
https and must not name a private address, but may carry a query. Both admit http and any address under
BILLING_PROVIDERS_ALLOW_PRIVATE=true. The model validators need no DNS (configs are validated again on
every use); `resolve_provider_urls` adds the look-up when an account is configured, and the guarded
transport checks the address actually dialled.
"""

from __future__ import annotations

import ipaddress
import typing
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel

from shared.security.egress import UnsafeDestination, check_address, check_url, check_url_form, providers_allow_private


class UrlUse(Enum):
    CALLED = "called"
    """The service sends requests here."""
    LINK = "link"
    """Handed to a payer's browser or to a provider; the service never requests it."""


@dataclass(frozen=True, slots=True)
class UrlField:
    """Marks a config field as a URL and says how it is used (found again by `url_fields`)."""

    use: UrlUse


LOCAL_NAMES = ("localhost", "localhost.", "localhost.localdomain")


def _check_host(host: str) -> None:
    """A host named by an address or as localhost must be public; other names are resolved elsewhere."""
    name = host.lower()
    if name in LOCAL_NAMES or name.endswith((".localhost", ".localhost.")):
        raise UnsafeDestination(f"{host} is not a public address")
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return  # a name: its addresses are checked when configured and when connecting
    check_address(name)


def _provider_url(value: str) -> str:
    private_ok = providers_allow_private()
    try:
        host = check_url_form(value, allow_private=private_ok)
        if not private_ok:
            _check_host(host)
    except UnsafeDestination as exc:
        raise ValueError(str(exc)) from None
    return value


def _link_url(value: str) -> str:
    private_ok = providers_allow_private()
    parts = urlsplit(value)
    if parts.scheme not in ({"https", "http"} if private_ok else {"https"}):
        raise ValueError("must be an https URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials")
    if not private_ok:
        try:
            _check_host(parts.hostname)
        except UnsafeDestination as exc:
            raise ValueError(str(exc)) from None
    return value


ProviderUrl = Annotated[str, UrlField(UrlUse.CALLED), AfterValidator(_provider_url)]
"""A URL the service calls with the account's credentials."""
LinkUrl = Annotated[str, UrlField(UrlUse.LINK), AfterValidator(_link_url)]
"""A URL the service hands on (a pay page, a return or notify address) but never requests itself."""


def _marker(annotation: Any) -> UrlField | None:
    """The UrlField inside an annotation, looking through Optional and Annotated."""
    if typing.get_origin(annotation) is Annotated:
        for extra in typing.get_args(annotation)[1:]:
            if isinstance(extra, UrlField):
                return extra
    for inner in typing.get_args(annotation):
        found = _marker(inner)
        if found is not None:
            return found
    return None


def url_fields(model: type[BaseModel]) -> dict[str, UrlUse]:
    """Every URL field of a config model and its use."""
    found: dict[str, UrlUse] = {}
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, UrlField)), None) or _marker(info.annotation)
        if marker is not None:
            found[name] = marker.use
    return found


def resolve_provider_urls(model: type[BaseModel], config: dict[str, Any]) -> None:
    """The configure-time look-up: every address a provider URL's host resolves to must be public.

    Raises UnsafeDestination naming the field.
    """
    for name, use in url_fields(model).items():
        value = config.get(name)
        if value == model.model_fields[name].default:
            continue  # the provider's production API, as this service ships it: not a tenant's choice
        if use is UrlUse.CALLED and isinstance(value, str):
            try:
                check_url(value)
            except UnsafeDestination as exc:
                raise UnsafeDestination(f"{name}: {exc}") from None
