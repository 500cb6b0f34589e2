"""Console operators against PostgreSQL: the CLI, sessions with idle expiry, the lock after failures, disabling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import utc_now
from shared.persistence.admin import create_tenant
from shared.persistence.operators import Operators
from shared.persistence.tables import operator_sessions, operator_sign_in_failures
from shared.security.passwords import hash_password, verify_password
from shared.settings import Settings

PASSWORD = "twelve chars or more"


def billing(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BILLING_DATABASE_URL": settings.database_url, "BILLING_SECRET_KEY": settings.secret_key or ""}
    return subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_cli_creates_lists_and_disables_operators(engine: AsyncEngine, settings: Settings) -> None:
    tenant = str(await create_tenant(engine, f"ops-{uuid.uuid4().hex[:6]}"))
    email = f"a-{uuid.uuid4().hex[:6]}@example.test"
    base = ["operator", "create", "--tenant", tenant, "--email", email, "--permission", "billing.view"]
    created = billing(settings, *base, "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    assert set(document) == {"id", "email", "tenant_id", "permissions"}
    assert document["permissions"] == ["billing.view"] and document["tenant_id"] == tenant
    assert (await Operators(engine).sign_in(email, PASSWORD)).token is not None

    again = billing(settings, *base, "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 1 and "exists" in again.stderr and again.stdout == ""
    short = billing(settings, *base[:-4], "--email", "b@example.test", "--permission", "billing.view",
                    "--password-stdin", stdin="short")  # fmt: skip
    assert short.returncode == 1 and "12 characters" in short.stderr
    unknown = billing(settings, *base[:-1], "billing.everything", "--password-stdin", stdin=PASSWORD)
    assert unknown.returncode == 1 and "unknown permission" in unknown.stderr

    generated_email = f"g-{uuid.uuid4().hex[:6]}@example.test"
    generated = billing(settings, "operator", "create", "--tenant", tenant, "--email", generated_email,
                        "--permission", "billing.view")  # fmt: skip
    shown = json.loads(generated.stdout)
    assert len(shown["password"]) >= 12
    assert (await Operators(engine).sign_in(generated_email, shown["password"])).token is not None

    listed = json.loads(billing(settings, "operator", "list", "--tenant", tenant).stdout)
    assert [item["email"] for item in listed["items"]] == [email, generated_email]
    assert all("password" not in json.dumps(item) for item in listed["items"])
    disabled = billing(settings, "operator", "disable", "--id", document["id"])
    assert json.loads(disabled.stdout)["disabled"] is True
    assert (await Operators(engine).sign_in(email, PASSWORD)).token is None
    assert billing(settings, "operator", "disable", "--id", str(uuid.uuid4())).returncode == 1


async def test_a_session_ends_after_thirty_idle_minutes_and_on_sign_out(engine: AsyncEngine) -> None:
    tenant = await create_tenant(engine, "idle")
    email = f"idle-{uuid.uuid4().hex[:6]}@example.test"
    await Operators(engine).create(tenant, email, hash_password(PASSWORD), ["billing.view"])
    token = (await Operators(engine).sign_in(email, PASSWORD)).token
    assert token is not None
    session = await Operators(engine).session(token)
    assert session is not None and session.operator.email == email and len(session.csrf_token) > 30
    async with engine.begin() as conn:
        await conn.execute(update(operator_sessions).values(last_seen_at=utc_now() - timedelta(minutes=29)))
    assert await Operators(engine).session(token) is not None  # and it was touched again
    async with engine.begin() as conn:
        await conn.execute(update(operator_sessions).values(last_seen_at=utc_now() - timedelta(minutes=31)))
    assert await Operators(engine).session(token) is None
    second = (await Operators(engine).sign_in(email, PASSWORD)).token
    assert second is not None and await Operators(engine).session(second) is not None
    await Operators(engine).sign_out(second)
    assert await Operators(engine).session(second) is None


async def test_five_failures_lock_the_email_for_fifteen_minutes(engine: AsyncEngine) -> None:
    tenant = await create_tenant(engine, "lock")
    email = f"Lock-{uuid.uuid4().hex[:6]}@example.test"
    await Operators(engine).create(tenant, email, hash_password(PASSWORD), ["billing.view"])
    for attempt in range(5):
        failed = await Operators(engine).sign_in(email.lower(), "wrong password!")
        assert failed.token is None and failed.locked == (attempt == 4)
    assert (await Operators(engine).sign_in(email, PASSWORD)).locked
    async with engine.begin() as conn:
        await conn.execute(
            update(operator_sign_in_failures)
            .where(operator_sign_in_failures.c.email == email.lower())
            .values(at=utc_now() - timedelta(minutes=16))
        )
    assert (await Operators(engine).sign_in(email, PASSWORD)).token is not None


def test_passwords_are_argon2_hashes() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD) and not verify_password(stored, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)
