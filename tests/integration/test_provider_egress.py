"""Every provider client dials through the egress guard: a host that resolves to a private address gets nothing.

The account's api_base names this machine by its host name: the model (validated on every use, without DNS)
lets it through, as it would a DNS answer that changed since the account was configured. Only the guard at
connect time stands between the account's credentials and the loopback listener, which counts connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.money import Money
from shared.domain.refund import Refund
from shared.domain.status import RefundStatus
from shared.domain.transaction import Transaction
from shared.gateways.base import GatewayAccount, GatewayAdapter, ProviderUnavailable
from shared.gateways.click.adapter import ClickAdapter
from shared.gateways.click.merchant_api import MerchantApi, RetryPolicy
from shared.gateways.octo.adapter import OctoAdapter
from shared.gateways.stripe.adapter import StripeAdapter
from shared.gateways.stripe.client import StripeCalls
from shared.security.egress import ALLOW_PRIVATE_PROVIDERS_ENV

NOW = datetime.now(UTC)


def loopback_name() -> str:
    """This machine's name when it resolves to loopback only (it does in /etc/hosts almost everywhere)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        pytest.skip("this machine's name does not resolve")
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        pytest.skip("this machine's name does not resolve to loopback only")
    return name


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 recording the first bytes of every connection it gets."""
    received: list[bytes] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(1024))
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], received


@pytest.fixture(autouse=True)
def private_not_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_PROVIDERS_ENV, raising=False)


def paid(gateway: str, account: GatewayAccount, details: dict[str, Any]) -> Transaction:
    tx = Transaction.open(
        id=uuid.uuid4(),
        tenant_id=account.tenant_id,
        account_id=account.id,
        gateway=gateway,
        money=Money.of(150_000, "UZS"),
        details=details,
        metadata={},
        at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )
    tx.complete(NOW)
    return tx


CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "octo": ({"shop_id": 1, "secret": "octo-secret", "unique_key": "octo-unique"}, {"octo_payment_uuid": "u-1"}),
    "click": (
        {"service_id": 1, "merchant_id": 2, "merchant_user_id": 3, "secret_key": "click-secret"},
        {"click_paydoc_id": 99},
    ),
    "stripe": ({"api_key": "sk_test_0123456789", "webhook_secret": "whsec_0123456789"}, {"payment_intent_id": "pi_1"}),
}


def adapter_for(gateway: str) -> GatewayAdapter:
    if gateway == "octo":
        return OctoAdapter(public_url="https://billing.example.com")
    if gateway == "click":
        fast = RetryPolicy(attempts=1, multiplier_s=0.01, max_wait_s=0.01, timeout_s=2)
        return ClickAdapter(api=lambda config: MerchantApi(config, policy=fast))
    return StripeAdapter(StripeCalls(attempts=2, max_wait_s=0.01))


@pytest.mark.parametrize("gateway", sorted(CASES))
async def test_a_refund_never_reaches_a_host_that_resolves_to_loopback(
    gateway: str, listener: tuple[int, list[bytes]]
) -> None:
    port, received = listener
    keys, details = CASES[gateway]
    config = {**keys, "api_base": f"https://{loopback_name()}:{port}/api"}
    account = GatewayAccount(uuid.uuid4(), uuid.uuid4(), gateway, config)
    tx = paid(gateway, account, details)
    refund = Refund(uuid.uuid4(), tx.tenant_id, tx.id, tx.amount, RefundStatus.REQUESTED, None, None, NOW, NOW)

    with pytest.raises(ProviderUnavailable):
        await adapter_for(gateway).refund(account, tx, refund)

    await asyncio.sleep(0.05)  # a connection that got through would have been accepted by now
    assert received == [], f"{gateway} connected to a loopback address"
