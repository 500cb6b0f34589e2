"""Finds gateway adapters: the built-in ones in this package and any installed under `billing.gateways` entry points.

A built-in gateway is a module (or package) of `shared.gateways` that exposes `ADAPTER`; adding a gateway
means adding its module, nothing else.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

import shared.gateways
from shared.domain.errors import UnknownGateway
from shared.gateways.base import GatewayAdapter

ENTRY_POINT_GROUP = "billing.gateways"
log = logging.getLogger(__name__)


def builtin_adapters() -> list[GatewayAdapter]:
    found: list[GatewayAdapter] = []
    for module_info in sorted(pkgutil.iter_modules(shared.gateways.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"shared.gateways.{module_info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if adapter is not None:
            found.append(adapter)
    return found


class GatewayRegistry:
    def __init__(self, adapters: list[GatewayAdapter]) -> None:
        self._adapters = {adapter.name: adapter for adapter in adapters}

    @classmethod
    def load(cls, extra: list[GatewayAdapter] | None = None) -> GatewayRegistry:
        adapters: list[GatewayAdapter] = [*builtin_adapters(), *(extra or [])]
        known = {adapter.name for adapter in adapters}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            if point.name in known:
                continue
            try:
                adapter = point.load()()
            except Exception:  # a broken plugin must not take the service down
                log.exception("gateway plugin %s failed to load", point.name)
                continue
            if not isinstance(adapter, GatewayAdapter):
                log.error("gateway plugin %s does not implement GatewayAdapter", point.name)
                continue
            if adapter.name in known:  # a plugin must never take over a gateway that is already there
                log.error("gateway plugin %s names gateway %r, which is taken", point.name, adapter.name)
                continue
            adapters.append(adapter)
            known.add(adapter.name)
        return cls(adapters)

    def get(self, name: str) -> GatewayAdapter:
        try:
            return self._adapters[name]
        except KeyError:
            raise UnknownGateway(f"unknown gateway {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._adapters)

    def all(self) -> list[GatewayAdapter]:
        return [self._adapters[name] for name in self.names()]
