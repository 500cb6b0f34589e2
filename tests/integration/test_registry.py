"""The gateway registry finds built-ins and plugins installed under the `billing.gateways` entry points."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from shared.domain.errors import UnknownGateway
from shared.gateways.base import GatewayAdapter
from shared.gateways.cash import CashAdapter
from shared.gateways.integrator import IntegratorAdapter
from shared.gateways.manifest import GatewayManifest
from shared.gateways.registry import GatewayRegistry

PLUGIN = """
from shared.gateways.base import RefundOutcome
from shared.gateways.cash import CashAdapter


class FakePayAdapter(CashAdapter):  # built on a built-in so it keeps up with the GatewayAdapter Protocol
    name = "fakepay"
    manual_completion = False

    async def refund(self, account, tx, refund):
        return RefundOutcome(succeeded=True, provider_refund_id="fp-1")


class ImpostorCash(FakePayAdapter):
    name = "cash"


class NotAnAdapter:
    name = "hollow"
"""

ENTRY_POINTS = """
[billing.gateways]
fakepay = fake_gateway_plugin:FakePayAdapter
broken = broken_gateway_plugin:Adapter
hollow = fake_gateway_plugin:NotAnAdapter
cash = fake_gateway_plugin:ImpostorCash
impostor = fake_gateway_plugin:ImpostorCash
"""

MODULES = ("fake_gateway_plugin", "broken_gateway_plugin")


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path holding plugin modules and the dist-info that declares their entry points."""
    (tmp_path / "fake_gateway_plugin.py").write_text(PLUGIN)
    (tmp_path / "broken_gateway_plugin.py").write_text("import billing_module_that_does_not_exist\n")
    dist_info = tmp_path / "fake_gateway_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-gateway-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in MODULES:
        sys.modules.pop(module, None)


def test_builtins_are_loaded() -> None:
    registry = GatewayRegistry.load()

    assert {"cash", "integrator"} <= set(registry.names())
    assert type(registry.get("cash")) is CashAdapter
    assert type(registry.get("integrator")) is IntegratorAdapter
    with pytest.raises(UnknownGateway, match="fakepay"):
        registry.get("fakepay")


def test_a_third_party_plugin_is_loaded_through_entry_points(plugins: Path) -> None:
    adapter = GatewayRegistry.load().get("fakepay")

    assert isinstance(adapter, GatewayAdapter)
    assert type(adapter).__module__ == "fake_gateway_plugin"
    assert adapter.name == "fakepay" and adapter.manual_completion is False


def test_broken_and_hollow_plugins_are_skipped(plugins: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.gateways.registry"):
        registry = GatewayRegistry.load()

    assert "fakepay" in registry.names()
    assert "broken" not in registry.names() and "hollow" not in registry.names()
    messages = [record.getMessage() for record in caplog.records]
    assert "gateway plugin broken failed to load" in messages
    assert "gateway plugin hollow does not implement GatewayAdapter" in messages


def test_a_plugin_cannot_replace_a_builtin(plugins: Path) -> None:
    """Neither under the built-in's entry-point name (`cash = ...`) nor under another one (`impostor = ...`)."""
    cash = GatewayRegistry.load().get("cash")

    assert type(cash) is CashAdapter, f"a plugin replaced the built-in: {type(cash).__module__}.{type(cash).__name__}"


BUILT_INS = ("cash", "click", "integrator", "octo", "payme", "stripe")


def test_the_builtins_are_declared_as_any_plugin_is() -> None:
    """One registry: the built-ins come from this project's own `billing.gateways` entry points, each a manifest."""
    points = {point.name: point for point in entry_points(group="billing.gateways")}

    for name in BUILT_INS:
        point = points[name]
        assert point.dist is not None and point.dist.name == "billing", name
        assert point.value == f"shared.gateways.{name}:MANIFEST"
        manifest = GatewayRegistry.load().manifest(name)
        assert isinstance(manifest, GatewayManifest) and manifest.name == name
        assert manifest.details is not None and manifest.details.gateway == name


def test_capabilities_decide_what_refunds_the_ingress_takes() -> None:
    registry = GatewayRegistry.load()
    payme = registry.manifest("payme").capabilities
    click = registry.manifest("click").capabilities

    assert payme.refund_refusal(100, 100, 0) == payme.refunds_note and "CancelTransaction" in payme.refunds_note
    assert click.refund_refusal(100, 100, 0) is None, "Click's full reversal"
    assert click.refund_refusal(40, 100, 0) == click.refunds_note
    assert click.refund_refusal(100, 100, 10) == click.refunds_note
    assert registry.manifest("cash").capabilities.refund_refusal(40, 100, 0) is None
    assert registry.manifest("octo").capabilities.two_stage_capture
    assert registry.manifest("stripe").capabilities.subscriptions


def test_a_plugin_may_name_its_manifest_or_a_factory_of_it(plugins: Path) -> None:
    (plugins / "manifest_gateway_plugin.py").write_text(
        "from shared.gateways.cash import CashAdapter\n"
        "from shared.gateways.manifest import Capabilities, GatewayManifest\n"
        "class Adapter(CashAdapter):\n"
        "    name = 'manifestpay'\n"
        "MANIFEST = GatewayManifest(adapter=Adapter(), capabilities=Capabilities(refunds=False))\n"
    )
    dist_info = plugins / "fake_gateway_plugin-0.1.dist-info" / "entry_points.txt"
    dist_info.write_text(dist_info.read_text() + "manifestpay = manifest_gateway_plugin:MANIFEST\n")
    try:
        manifest = GatewayRegistry.load().manifest("manifestpay")
    finally:
        sys.modules.pop("manifest_gateway_plugin", None)

    assert manifest.capabilities.refunds is False and manifest.webhooks is None
