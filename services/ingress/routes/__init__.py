"""HTTP routes: every module here that exposes `router`, and the webhooks of every gateway in the registry."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter

from shared.gateways.registry import GatewayRegistry

BUSIEST_FIRST = ("transactions",)
"""Modules whose routes are matched first: a request is matched against the routes in order, and almost every
request of a busy service is a transaction's. No two modules' paths overlap, so the order changes no answer."""


def _matched_early(name: str) -> tuple[int, str]:
    return (BUSIEST_FIRST.index(name) if name in BUSIEST_FIRST else len(BUSIEST_FIRST), name)


def routers(registry: GatewayRegistry) -> list[APIRouter]:
    found: list[APIRouter] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda module: _matched_early(module.name)):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found + registry.webhooks()
