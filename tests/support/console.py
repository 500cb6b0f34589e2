"""Operators and a signed-in console client over real HTTP, for the console's end-to-end tests."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.persistence.operators import Operators
from shared.security.apikeys import Permission
from shared.security.passwords import hash_password

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class OperatorLogin:
    id: uuid.UUID
    email: str
    password: str = PASSWORD


async def make_operator(
    engine: AsyncEngine, tenant_id: uuid.UUID, permissions: list[Permission] | None = None, timezone: str = "UTC"
) -> OperatorLogin:
    email = f"op-{uuid.uuid4().hex[:10]}@example.test"
    granted = [p.value for p in (permissions or list(Permission))]
    created = await Operators(engine).create(tenant_id, email, hash_password(PASSWORD), granted, timezone)
    return OperatorLogin(created.id, email)


async def sign_in(http: httpx.AsyncClient, login: OperatorLogin) -> httpx.Response:
    return await http.post("/console/login", data={"email": login.email, "password": login.password})


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)
