"""X-Request-ID: echoed when given, generated when not, on every answer (its way into the workers' logs and
spans: test_operations_logs)."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.support.world import TenantWorld

GENERATED = re.compile(r"^[0-9a-f]{32}$")


async def test_every_answer_carries_the_callers_request_id_or_a_new_one(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    calls = [
        ("GET", "/v1/transactions", tenant.auth, None),  # 200
        ("GET", f"/v1/transactions/{uuid.uuid4()}", tenant.auth, None),  # 404 problem
        ("GET", "/v1/transactions", {}, None),  # 401 problem
        ("POST", "/v1/transactions", tenant.auth, b"{broken"),  # 400 problem
        ("GET", "/health/live", {}, None),
        ("GET", "/nowhere", {}, None),  # 404 from the router
        ("POST", f"/webhooks/integrator/{tenant.accounts['integrator']}", {}, b"{}"),  # 401 webhook
        ("POST", f"/webhooks/payme/{uuid.uuid4()}", {}, b"{}"),  # Payme's own error format
    ]
    for method, path, headers, body in calls:
        given = f"req-{uuid.uuid4()}"
        echoed = await client.request(method, path, headers={**headers, "X-Request-ID": given}, content=body)
        assert echoed.headers["X-Request-ID"] == given, (path, echoed.status_code)
        generated = await client.request(method, path, headers=headers, content=body)
        assert GENERATED.match(generated.headers["X-Request-ID"]), (path, generated.headers)
    unprintable = await client.get("/health/live", headers={"X-Request-ID": "x" * 101})
    assert GENERATED.match(unprintable.headers["X-Request-ID"])  # too long: replaced, not truncated
