"""A streaming replica of the local PostgreSQL for tests and benchmarks: pg_basebackup into a temporary folder,
started with pg_ctl on a port of its own, paused (lag), stopped, started again, and removed afterwards.

Replication needs a `replication` line in the primary's pg_hba.conf ("all" does not cover it): `allow_replication`
adds `host replication all 127.0.0.1/32 trust` once, idempotently, and reloads the server (no restart). A
physical replication slot keeps the primary's WAL while the replica is stopped; it is dropped on removal.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PRIMARY_HOST = "127.0.0.1"
PRIMARY_PORT = 5432
REPLICATION_LINE = "host replication all 127.0.0.1/32 trust"
SLOT_PREFIX = "billing_test_replica_"
# A standby refuses to start with less than the primary has of these.
MATCHED_SETTINGS = ("max_connections", "max_worker_processes", "max_prepared_transactions", "max_locks_per_transaction")


def psql(sql: str, port: int = PRIMARY_PORT, database: str = "postgres") -> str:
    done = subprocess.run(
        ["psql", "-h", PRIMARY_HOST, "-p", str(port), "-U", "postgres", "-d", database, "-Atqc", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql on {port}: {done.stderr.strip()}")
    return done.stdout.strip()


def pg_bin() -> Path:
    version = psql("SHOW server_version_num")[:2]
    return Path(f"/usr/lib/postgresql/{version}/bin")


def allow_replication() -> None:
    """The one change to the machine's PostgreSQL: replication connections from the loopback (then a reload)."""
    hba = Path(psql("SHOW hba_file"))
    if any(line.split() == REPLICATION_LINE.split() for line in hba.read_text().splitlines()):
        return
    with hba.open("a") as handle:
        handle.write("\n# billing tests/support/replica.py: streaming replicas of this server on the loopback\n")
        handle.write(REPLICATION_LINE + "\n")
    psql("SELECT pg_reload_conf()")
    time.sleep(0.5)


def drop_stale_slots() -> None:
    """Slots of replicas a killed run left behind would keep WAL on the primary for ever."""
    psql(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
        f" WHERE slot_name LIKE '{SLOT_PREFIX}%' AND NOT active"
    )


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class StreamingReplica:
    port: int
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="billing-replica-")))
    slot: str = field(default_factory=lambda: f"{SLOT_PREFIX}{uuid.uuid4().hex[:10]}")

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@{PRIMARY_HOST}:{self.port}/{database}"

    def create(self) -> None:
        """Copy the primary and start streaming from it."""
        allow_replication()
        drop_stale_slots()
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.folder, postgres.pw_uid, postgres.pw_gid)
        self._run(
            [
                str(pg_bin() / "pg_basebackup"),
                *("-h", PRIMARY_HOST, "-p", str(PRIMARY_PORT), "-U", "postgres"),
                *("-D", str(self.data), "-X", "stream", "-R", "-C", "-S", self.slot, "--checkpoint=fast"),
            ]
        )
        settings = {name: psql(f"SHOW {name}") for name in MATCHED_SETTINGS}
        config = [
            f"port = {self.port}",
            f"listen_addresses = '{PRIMARY_HOST}'",
            f"unix_socket_directories = '{self.folder}'",
            "hot_standby = on",
            "hot_standby_feedback = on",  # long reads here do not get canceled by the primary's vacuum
            "shared_buffers = 32MB",
            "fsync = off",  # a throw-away copy
            *(f"{name} = {value}" for name, value in settings.items()),
        ]
        self._write("postgresql.conf", "\n".join(config) + "\n")
        self._write("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n")
        self.start()

    def _write(self, name: str, text: str) -> None:
        path = self.data / name
        path.write_text(text)
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(path, postgres.pw_uid, postgres.pw_gid)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(as_postgres(command), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name}: {(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> None:
        log = self.folder / "postgres.log"
        self._run([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "120", "start"])

    def stop(self) -> None:
        self._run([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def pause_replay(self) -> None:
        """The replica keeps answering but stops applying the primary's changes: it lags."""
        psql("SELECT pg_wal_replay_pause()", self.port)

    def resume_replay(self) -> None:
        psql("SELECT pg_wal_replay_resume()", self.port)

    def lag_bytes(self) -> int:
        """How far the replica's replay is behind the primary's current WAL position."""
        replayed = psql("SELECT pg_last_wal_replay_lsn()", self.port)
        return int(psql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{replayed}')::bigint"))

    def wait_caught_up(self, timeout: float = 60.0) -> None:
        """Until the replica replayed everything the primary had written when this was called."""
        target = psql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while int(psql(f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn())::bigint", self.port)) > 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not catch up with {target} within {timeout:.0f} s")
            time.sleep(0.2)

    def remove(self) -> None:
        """Stop it (if running), drop its slot on the primary and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop()
        try:
            psql(
                f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{self.slot}'"
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
