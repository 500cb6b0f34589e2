"""The OpenAPI document tells the truth: it is a valid OpenAPI 3 document with a bearer scheme, a named schema
for every 2xx and the problem+json errors of every operation; schemathesis then drives every operation of the
running service, with a valid key and without one, and finds no 5xx and no answer outside the document."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.system import System
from tests.support.world import TenantWorld

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 5


@pytest.fixture(scope="module")
def document(system: System) -> dict[str, Any]:
    answer = httpx.get(f"{system.base_url}/openapi.json", timeout=10)
    assert answer.status_code == 200
    served: dict[str, Any] = answer.json()
    return served


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_the_document_is_valid_openapi_with_a_bearer_scheme(document: dict[str, Any]) -> None:
    validate(document)
    schemes = document["components"]["securitySchemes"]
    (name,) = schemes
    assert schemes[name] == {"type": "http", "scheme": "bearer", "description": schemes[name]["description"]}
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids)), "operation ids are unique"
    for method, path, op in _operations(document):
        if path.startswith("/v1/"):
            assert op["security"] == [{name: []}], (method, path)
        else:
            assert op["security"] == [], (method, path)
        if path.startswith("/webhooks/"):
            assert op["tags"] == ["gateway webhooks"], (method, path)


def test_every_2xx_has_a_named_schema_and_every_error_is_a_problem_with_codes(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["Transaction"].get("examples") and schemas["Problem"].get("examples")
    for method, path, op in _operations(document):
        responses = op["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, (method, path)
        for status in successes:
            if status == "204":
                assert "content" not in responses[status]
                continue
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.split("/")[-1] in schemas, (method, path, status)
        errors = [status for status in responses if status[0] in "45"]
        assert {"413", "500"} <= set(errors), (method, path)
        for status in errors:
            content = responses[status]["content"]
            if path == "/health/ready" and status == "503":  # the probe's own answer: which dependency is down
                assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}
                continue
            schema = content.get("application/problem+json", {}).get("schema")
            assert schema is not None, (method, path, status)
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}
            assert schema["allOf"][1]["properties"]["code"]["enum"], (method, path, status)
        if path.startswith("/v1/"):
            assert {"401", "403", "429", "503"} <= set(errors), (method, path)
    created = document["paths"]["/v1/transactions"]["post"]["responses"]
    assert "idempotency_key_reused" in json.dumps(created["409"]) and "unknown_gateway" in json.dumps(created["422"])


def _drive(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> None:
    """Up to EXAMPLES_PER_OPERATION generated calls of one operation; raises on the first failed check."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_document(system: System, tenant: TenantWorld) -> None:
    schema = schemathesis.openapi.from_url(f"{system.base_url}/openapi.json")
    failures: list[str] = []
    for found in schema.get_all_operations():
        operation = found.ok()  # type: ignore[union-attr]  # an invalid operation raises here, failing the test
        for who, headers in (("with a key", tenant.auth), ("without a key", {})):
            # Negative data for the command API; a webhook declares only its path (its body is the gateway's).
            modes = [GenerationMode.POSITIVE]
            if operation.path.startswith("/v1/"):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                started = time.monotonic()
                try:
                    _drive(operation, mode, system.base_url, headers)
                except Exception as exc:  # every operation is tried; the failures are reported together
                    failures.append(f"{operation.label} {who} ({mode.value}): {str(exc)[:600]}")
                took = time.monotonic() - started
                assert took < 30, f"{operation.label} took {took:.0f} s"  # the whole run stays within a minute or two
    assert not failures, "\n\n".join(failures)
