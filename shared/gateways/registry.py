"""The one registry of gateways: every manifest installed under the `billing.gateways` entry points.

The built-in gateways are declared there by this project's own pyproject.toml, exactly as a third-party package
declares its own; the built-ins are loaded first, and a plugin never takes over a name that is already there.
An entry point names a `GatewayManifest`, or a callable returning one (or a bare `GatewayAdapter`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from shared.domain.errors import UnknownGateway
from shared.gateways.base import GatewayAdapter
from shared.gateways.manifest import GatewayManifest

if TYPE_CHECKING:
    from fastapi import APIRouter

    from shared.gateways.processing import GatewayWiring, ProcessorDeps

ENTRY_POINT_GROUP = "billing.gateways"
BUILT_IN_DISTRIBUTION = "billing"
log = logging.getLogger(__name__)


def _built_in_first(point: EntryPoint) -> tuple[bool, str]:
    distribution = point.dist.name if point.dist is not None else ""
    return distribution != BUILT_IN_DISTRIBUTION, point.name


def _manifest_of(loaded: object) -> GatewayManifest | None:
    if isinstance(loaded, type) or (callable(loaded) and not isinstance(loaded, GatewayManifest)):
        loaded = loaded()  # a factory: the adapter's class, or a function building the manifest
    if isinstance(loaded, GatewayManifest):
        return loaded
    if isinstance(loaded, GatewayAdapter):
        return GatewayManifest(adapter=loaded)
    return None


class GatewayRegistry:
    def __init__(self, gateways: Iterable[GatewayManifest | GatewayAdapter]) -> None:
        manifests = [g if isinstance(g, GatewayManifest) else GatewayManifest(adapter=g) for g in gateways]
        self._manifests = {manifest.name: manifest for manifest in manifests}

    @classmethod
    def load(cls, extra: list[GatewayManifest | GatewayAdapter] | None = None) -> GatewayRegistry:
        found: list[GatewayManifest | GatewayAdapter] = list(extra or [])
        known = {g.name for g in found}
        for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_built_in_first):
            try:
                manifest = _manifest_of(point.load())
            except Exception:  # a broken plugin must not take the service down
                log.exception("gateway plugin %s failed to load", point.name)
                continue
            if manifest is None:
                log.error("gateway plugin %s does not implement GatewayAdapter", point.name)
                continue
            if manifest.name in known:  # a plugin must never take over a gateway that is already there
                log.error("gateway plugin %s names gateway %r, which is taken", point.name, manifest.name)
                continue
            found.append(manifest)
            known.add(manifest.name)
        return cls(found)

    def manifest(self, name: str) -> GatewayManifest:
        try:
            return self._manifests[name]
        except KeyError:
            raise UnknownGateway(f"unknown gateway {name!r}; known: {', '.join(self.names())}") from None

    def get(self, name: str) -> GatewayAdapter:
        return self.manifest(name).adapter

    def names(self) -> list[str]:
        return sorted(self._manifests)

    def all(self) -> list[GatewayAdapter]:
        return [self._manifests[name].adapter for name in self.names()]

    def manifests(self) -> list[GatewayManifest]:
        return [self._manifests[name] for name in self.names()]

    def webhooks(self) -> list[APIRouter]:
        """The ingress sides to mount: one router per gateway that receives calls."""
        return [manifest.webhooks() for manifest in self.manifests() if manifest.webhooks is not None]

    def wirings(self, deps: ProcessorDeps) -> list[GatewayWiring]:
        """The processor sides: each gateway's call handler and command routes, built with the processor's deps."""
        return [manifest.processor(deps) for manifest in self.manifests() if manifest.processor is not None]
