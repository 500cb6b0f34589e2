"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from services.ingress.context import Ingress, ingress
from shared.persistence import driver

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(ctx: Annotated[Ingress, Depends(ingress)]) -> JSONResponse:
    checks = {"postgresql": await _database_ok(ctx), "rabbitmq": ctx.publisher.healthy}
    ok = all(checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


async def _database_ok(ctx: Ingress) -> bool:
    try:
        async with asyncio.timeout(2.0):
            return await driver.answers(ctx.engine)
    except TimeoutError:
        return False
