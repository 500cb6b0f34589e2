"""Finds gateway adapters: the built-in ones and any installed under the `billing.gateways` entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from shared.domain.errors import UnknownGateway
from shared.gateways.base import GatewayAdapter
from shared.gateways.cash import CashAdapter
from shared.gateways.integrator import IntegratorAdapter

ENTRY_POINT_GROUP = "billing.gateways"
log = logging.getLogger(__name__)


class GatewayRegistry:
    def __init__(self, adapters: list[GatewayAdapter]) -> None:
        self._adapters = {adapter.name: adapter for adapter in adapters}

    @classmethod
    def load(cls, extra: list[GatewayAdapter] | None = None) -> GatewayRegistry:
        adapters: list[GatewayAdapter] = [CashAdapter(), IntegratorAdapter(), *(extra or [])]
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
