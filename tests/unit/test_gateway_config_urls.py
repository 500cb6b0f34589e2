"""Every URL field of every gateway config refuses non-public and plain-http destinations (contract: Security).

The URL fields are found from the registry's config models, not listed here: a new gateway's URL fields are
walked as soon as it is registered (it only needs a sample of its other required keys below).
"""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from shared.domain.money import Money
from shared.gateways.base import GatewayAccount, InvalidGatewayConfig, check_config
from shared.gateways.integrator import IntegratorAdapter, IntegratorConfig
from shared.gateways.registry import GatewayRegistry
from shared.gateways.urls import UrlUse, url_fields
from shared.security.egress import ALLOW_PRIVATE_PROVIDERS_ENV

REGISTRY = GatewayRegistry.load()
INTEGRATOR = IntegratorAdapter()

REQUIRED_KEYS: dict[str, dict[str, Any]] = {
    "bank_transfer": {  # the example third-party gateway (examples/gateways/bank_transfer), installed for the suite
        "secret": "bank-callback-secret-0123456789",
        "beneficiary": "Acme LLC",
        "account_number": "20208000900100001001",
    },
    "cash": {},
    "click": {"service_id": 1, "merchant_id": 2, "merchant_user_id": 3, "secret_key": "click-secret"},
    "integrator": {"secret": "integrator-secret-0123456789", "name": "pos"},
    "octo": {"shop_id": 7, "secret": "octo-secret", "unique_key": "octo-unique"},
    "payme": {"merchant_id": "m-1", "key": "payme-key"},
    "stripe": {"api_key": "sk_test_0123456789", "webhook_secret": "whsec_0123456789"},
}
"""The other keys each gateway requires, so that only the URL under test can be wrong."""

REFUSED_HOSTS = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "localhost",
    "10.1.2.3",  # private
    "172.16.0.9",
    "192.168.1.20",
    "100.64.0.1",  # shared address space (carrier NAT)
    "169.254.10.10",  # link-local
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",  # noqa: S104 - an address refused, not one bound
    "[::1]",  # IPv6 loopback
    "[fd12:3456::1]",  # IPv6 unique local
    "[fe80::1]",  # IPv6 link-local
    "[::ffff:169.254.169.254]",  # IPv4-mapped metadata
]
PUBLIC_HOST = "93.184.216.34"


def url_cases() -> list[tuple[str, str, UrlUse]]:
    return [
        (adapter.name, name, use)
        for adapter in REGISTRY.all()
        for name, use in url_fields(adapter.config_model).items()
    ]


def url_for(host: str, gateway: str, field: str, *, scheme: str = "https") -> str:
    path = "/pay/{transaction_id}" if (gateway, field) == ("integrator", "payment_url") else "/api"
    return f"{scheme}://{host}{path}"


@pytest.fixture(autouse=True)
def private_not_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_PROVIDERS_ENV, raising=False)


def test_every_registered_gateway_is_walked_and_every_url_looking_field_is_a_url_field() -> None:
    assert set(REQUIRED_KEYS) >= set(REGISTRY.names()), "add the new gateway's required keys above"
    for adapter in REGISTRY.all():
        fields = url_fields(adapter.config_model)
        for name in adapter.config_model.model_fields:
            if name.endswith(("url", "_base", "uri", "endpoint")):
                assert name in fields, f"{adapter.name}.{name} looks like a URL but gets no URL check"
    walked = {(gateway, field) for gateway, field, _ in url_cases()}
    assert {("octo", "api_base"), ("click", "api_base"), ("stripe", "api_base")} <= walked
    assert ("integrator", "payment_url") in walked


@pytest.mark.parametrize(("gateway", "field", "use"), url_cases())
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_non_public_addresses_are_refused_in_every_url_field(gateway: str, field: str, use: UrlUse, host: str) -> None:
    adapter = REGISTRY.get(gateway)
    config = {**REQUIRED_KEYS[gateway], field: url_for(host, gateway, field)}
    with pytest.raises(ValidationError, match=field):
        adapter.config_model.model_validate(config)
    with pytest.raises(InvalidGatewayConfig, match=f"{gateway} config {field}: .*not a public address"):
        check_config(adapter, config)


@pytest.mark.parametrize(("gateway", "field", "use"), url_cases())
def test_plain_http_is_refused_and_a_public_https_url_accepted(gateway: str, field: str, use: UrlUse) -> None:
    adapter = REGISTRY.get(gateway)
    with pytest.raises(InvalidGatewayConfig, match=f"{field}: must be an https URL"):
        check_config(adapter, {**REQUIRED_KEYS[gateway], field: url_for(PUBLIC_HOST, gateway, field, scheme="http")})
    accepted = check_config(adapter, {**REQUIRED_KEYS[gateway], field: url_for(PUBLIC_HOST, gateway, field)})
    assert accepted[field].startswith(f"https://{PUBLIC_HOST}/")


@pytest.mark.parametrize(("gateway", "field", "use"), url_cases())
def test_the_operators_setting_admits_local_http_in_every_url_field(
    gateway: str, field: str, use: UrlUse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_PROVIDERS_ENV, "true")
    config = {**REQUIRED_KEYS[gateway], field: url_for("127.0.0.1:8099", gateway, field, scheme="http")}
    assert check_config(REGISTRY.get(gateway), config)[field].startswith("http://127.0.0.1:8099/")


@pytest.mark.parametrize(("gateway", "field", "use"), [case for case in url_cases() if case[2] is UrlUse.CALLED])
@pytest.mark.parametrize("suffix", ["?x=1", "#frag", "?", "#"])
def test_a_called_url_takes_no_query_or_fragment(gateway: str, field: str, use: UrlUse, suffix: str) -> None:
    # A trailing `?` or `#` would cut off the path the service appends and pick any path on the host.
    with pytest.raises(InvalidGatewayConfig, match="query or a fragment"):
        check_config(REGISTRY.get(gateway), {**REQUIRED_KEYS[gateway], field: f"https://{PUBLIC_HOST}/api{suffix}"})


def test_a_called_url_is_resolved_when_configured() -> None:
    # A name passes the model (it is validated again on every use, without DNS), but not configuration.
    name = socket.gethostname()
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
    except socket.gaierror:
        pytest.skip("this machine's name does not resolve")
    if not any(address.startswith(("127.", "10.", "172.", "192.168.", "::1")) for address in addresses):
        pytest.skip("this machine's name resolves to a public address")
    config = {**REQUIRED_KEYS["octo"], "api_base": f"https://{name}/api"}
    assert REGISTRY.get("octo").config_model.model_validate(config)
    with pytest.raises(InvalidGatewayConfig, match=r"octo config api_base: .*not a public address"):
        check_config(REGISTRY.get("octo"), config)


# --- the integrator's payment_url template ----------------------------------------------------------------------

EXPLOIT = "https://pay.example.com/{transaction_id.__init__.__globals__[os].environ[BILLING_SECRET_KEY]}"


@pytest.mark.parametrize(
    "template",
    [
        EXPLOIT,
        "https://pay.example.com/{x}",
        "https://pay.example.com/{transaction_id!r}",
        "https://pay.example.com/{amount:>10}",
        "https://pay.example.com/{0}",
        "https://pay.example.com/{{transaction_id}}",
        "https://pay.example.com/{transaction_id",
        "https://pay.example.com/}",
    ],
)
def test_a_payment_url_with_anything_but_the_three_placeholders_is_refused(template: str) -> None:
    config = {**REQUIRED_KEYS["integrator"], "payment_url": template}
    with pytest.raises(InvalidGatewayConfig, match=r"payment_url: may use only the placeholders \{transaction_id\}"):
        check_config(INTEGRATOR, config)


def test_the_three_placeholders_are_substituted_literally() -> None:
    template = "https://pay.example.com/t/{transaction_id}?sum={amount}&cur={currency}&again={amount}"
    config = check_config(INTEGRATOR, {**REQUIRED_KEYS["integrator"], "payment_url": template})
    tx_id = uuid.uuid4()
    account = GatewayAccount(uuid.uuid4(), uuid.uuid4(), "integrator", config)
    link = INTEGRATOR.payment_link(account, tx_id, Money.of(150_000, "UZS"), {})
    assert link == f"https://pay.example.com/t/{tx_id}?sum=150000&cur=UZS&again=150000"


@pytest.mark.parametrize("template", [EXPLOIT, "https://pay.example.com/{x}/{transaction_id}"])
def test_a_stored_template_from_before_is_rendered_literally_never_formatted(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An account saved before the check: its braces are text, nothing is looked up, nothing raises.
    secret = f"the-fernet-key-{uuid.uuid4().hex}"
    monkeypatch.setenv("BILLING_SECRET_KEY", secret)
    account = GatewayAccount(uuid.uuid4(), uuid.uuid4(), "integrator", {"payment_url": template})
    tx_id = uuid.uuid4()
    link = INTEGRATOR.payment_link(account, tx_id, Money.of(100, "USD"), {})
    assert link is not None and secret not in link
    assert link == template.replace("{transaction_id}", str(tx_id))


def test_the_payment_url_must_be_https_and_public() -> None:
    with pytest.raises(ValidationError, match="must be an https URL"):
        IntegratorConfig(secret="integrator-secret-0123456789", name="pos", payment_url="http://pay.example.com/")
    with pytest.raises(ValidationError, match="not a public address"):
        IntegratorConfig(secret="integrator-secret-0123456789", name="pos", payment_url="https://10.0.0.1/")
