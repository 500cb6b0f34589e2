"""The processor sides of the gateways: each manifest's `processor`, wired with the processor's dependencies."""

from __future__ import annotations

import importlib
import pkgutil

from shared.gateways.processing import GatewayWiring, ProcessorDeps


def discover(deps: ProcessorDeps) -> list[GatewayWiring]:
    wirings = [manifest.processor(deps) for manifest in deps.registry.manifests() if manifest.processor is not None]
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        wire = getattr(module, "wire", None)
        if wire is not None:
            wirings.append(wire(deps))
    return wirings
