"""`billing doctor` as an operator runs it: all ok against the running system, precise failures otherwise."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid

import asyncpg
from cryptography.fernet import Fernet

from shared.persistence.database import raw_dsn
from tests.support.system import System, free_port
from tests.support.world import TenantWorld

CHECKS = ("configuration", "database", "broker", "workers", "accounts", "webhooks")


async def server_setting(database_url: str, name: str) -> str:
    connection = await asyncpg.connect(raw_dsn(database_url))
    try:
        return str(await connection.fetchval(f"SHOW {name}"))
    finally:
        await connection.close()


def doctor(env: dict[str, str]) -> tuple[int, dict[str, str]]:
    """Exit code and each check's line, by check name."""
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "doctor"], env=env, capture_output=True, text=True, timeout=90
    )
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.strip()}
    assert lines, done.stderr
    return done.returncode, lines


def test_all_checks_pass_against_the_running_system(system: System, tenant: TenantWorld) -> None:
    code, lines = doctor(system.env)
    assert code == 0, "\n".join(lines.values())
    assert set(lines) == set(CHECKS)
    assert all(line.startswith("ok") for line in lines.values()), "\n".join(lines.values())
    assert "migrations at head" in lines["database"]
    assert re.search(r"billing\.processor [1-9]", lines["workers"]) and re.search(
        r"billing\.refunds [1-9]", lines["workers"]
    )
    assert "webhook URL(s) routed" in lines["webhooks"], "the tenant's integrator account has a webhook"
    autovacuum_off = asyncio.run(server_setting(system.env["BILLING_DATABASE_URL"], "autovacuum")) != "on"
    assert ("autovacuum is off" in lines["database"]) == autovacuum_off, lines["database"]


def test_a_wrong_secret_key_fails_the_accounts_check_with_a_fix(system: System, tenant: TenantWorld) -> None:
    env = {**system.env, "BILLING_SECRET_KEY": Fernet.generate_key().decode()}
    code, lines = doctor(env)
    assert code == 1
    assert lines["accounts"].startswith("FAIL") and "do not decrypt with BILLING_SECRET_KEY" in lines["accounts"]
    sealed = re.search(r"(\d+) of (\d+) gateway account", lines["accounts"])
    assert sealed and sealed[1] == sealed[2] and int(sealed[1]) >= len(tenant.accounts), "every account, no other"
    assert "fix: set BILLING_SECRET_KEY to the key these credentials were sealed with" in lines["accounts"]
    for fine in ("configuration", "database", "broker", "workers"):
        assert lines[fine].startswith("ok"), lines[fine]


def test_a_missing_database_says_run_migrate(system: System) -> None:
    url = system.env["BILLING_DATABASE_URL"].rsplit("/", 1)[0] + f"/billing_missing_{uuid.uuid4().hex[:8]}"
    code, lines = doctor({**system.env, "BILLING_DATABASE_URL": url})
    assert code == 1
    assert lines["database"].startswith("FAIL") and "does not exist" in lines["database"]
    assert "fix: run `billing migrate`" in lines["database"]
    assert lines["accounts"].startswith("skip")


def test_bad_configuration_stops_at_the_variable_to_fix(system: System) -> None:
    code, lines = doctor({**system.env, "BILLING_SECRET_KEY": "not-a-fernet-key"})
    assert code == 1 and set(lines) == {"configuration"}
    assert lines["configuration"].startswith("FAIL") and "fix: set BILLING_SECRET_KEY" in lines["configuration"]


def test_an_ingress_that_does_not_answer_at_the_public_url_fails_the_webhooks_check(system: System) -> None:
    code, lines = doctor({**system.env, "BILLING_PUBLIC_URL": f"http://127.0.0.1:{free_port()}"})
    assert code == 1
    assert lines["webhooks"].startswith("FAIL") and "/health/live does not answer" in lines["webhooks"]
    assert all(lines[name].startswith("ok") for name in CHECKS if name != "webhooks")
