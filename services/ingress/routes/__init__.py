"""HTTP routes: every module here that exposes `router`, and the webhooks of every gateway in the registry."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter

from shared.gateways.registry import GatewayRegistry


def routers(registry: GatewayRegistry) -> list[APIRouter]:
    found: list[APIRouter] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda module: module.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found + registry.webhooks()
