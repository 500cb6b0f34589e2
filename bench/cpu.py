"""Where the machine's CPU went during a measured window, read from /proc (Linux), by who spent it.

Groups: each `billing up` service process (by the name in its command line), PostgreSQL, RabbitMQ, this load
generator, and the rest of the machine (the kernel's own work, mostly loopback networking, and anything
else), which is the machine's busy time from /proc/stat minus the processes counted. Divided by the payments
(or calls) of the window, it says how many CPU milliseconds each one costs, so a target can be checked
against what the parts the service cannot do without already spend.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
SERVICES = ("ingress", "processor", "refunds", "webhooks")
INFRASTRUCTURE = ("postgresql", "rabbitmq", "kernel and the rest")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuShare:
    """Average cores a group kept busy during the window, and the CPU milliseconds per unit of work."""

    group: str
    cores: float
    ms_per_unit: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _group(pid: int, session: int, own_pid: int) -> str | None:
    """The group a process belongs to, or None when it is not one we name."""
    if pid == own_pid:
        return "load generator"
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        command = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    if int(fields[3]) == session:  # the session `billing up` was started in
        words = command.split()
        return next((f"billing {s}" for s in SERVICES if s in words), "billing up (supervisor)")
    if name == "postgres" or command.startswith("postgres"):
        return "postgresql"
    if name.startswith(("beam", "erl_child", "epmd")) or "rabbitmq" in command:
        return "rabbitmq"
    return None


def service_processes(session: int) -> dict[int, str]:
    """The processes of `billing up` (started in `session`), by pid, with their group's name."""
    own = os.getpid()
    found: dict[int, str] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            group = _group(int(entry.name), session, own)
            if group is not None and group.startswith("billing"):
                found[int(entry.name)] = group
    return found


def resident_bytes(pid: int) -> int | None:
    """A process's resident set size (VmRSS), or None once it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _process_ticks(pid: int) -> int:
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _machine_busy_ticks() -> int:
    """All CPUs' busy time (everything but idle and iowait) since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = values[3], values[4]
    return sum(values[:8]) - idle - iowait  # user..steal; guest time is already inside user


@dataclass(frozen=True)
class _Snapshot:
    at: float
    machine: int
    by_pid: dict[int, tuple[str, int]]


def _snapshot(session: int) -> _Snapshot:
    own = os.getpid()
    by_pid: dict[int, tuple[str, int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        group = _group(pid, session, own)
        if group is not None:
            by_pid[pid] = (group, _process_ticks(pid))
    return _Snapshot(time.perf_counter(), _machine_busy_ticks(), by_pid)


def machine_busy() -> tuple[int, float]:
    """A mark to measure the machine's busy CPU from (see machine_busy_since)."""
    return _machine_busy_ticks(), time.perf_counter()


def machine_busy_since(mark: tuple[int, float]) -> tuple[float, float]:
    """CPU seconds the whole machine spent since `mark`, and the wall seconds that passed."""
    ticks, at = mark
    return (_machine_busy_ticks() - ticks) / TICKS_PER_S, time.perf_counter() - at


def shares(before: _Snapshot, after: _Snapshot, units: int) -> list[CpuShare]:
    """Per group: cores kept busy between the snapshots, and CPU ms per unit of work (payment or call)."""
    elapsed = after.at - before.at
    ticks: dict[str, int] = {}
    for pid, (group, spent) in after.by_pid.items():
        ticks[group] = ticks.get(group, 0) + spent - before.by_pid.get(pid, (group, 0))[1]
    counted = sum(ticks.values())
    ticks["kernel and the rest"] = max(0, after.machine - before.machine - counted)
    order = sorted(ticks.items(), key=lambda item: (item[0] == "kernel and the rest", -item[1]))
    result = []
    for group, spent in order:
        seconds = spent / TICKS_PER_S
        result.append(CpuShare(group, seconds / elapsed, seconds * 1000 / units if units else 0.0))
    return result


async def measure_window(session: int, window_start: float, window_end: float) -> tuple[_Snapshot, _Snapshot]:
    """Snapshot at the window's start and end (perf_counter times); run it beside the load."""
    await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
    before = _snapshot(session)
    await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
    return before, _snapshot(session)


def print_shares(title: str, cpu: list[CpuShare], unit: str) -> None:
    total = sum(s.cores for s in cpu)
    print(f"\nCPU during the measured window ({title}; {os.cpu_count()} cores, {total:.2f} busy)")
    for s in cpu:
        print(f"  {s.group:26s} {s.cores:5.2f} cores   {s.ms_per_unit:6.2f} ms per {unit}")
    bound = infrastructure_bound(cpu)
    if bound is not None:
        print(
            f"  PostgreSQL, RabbitMQ and the kernel alone: at most {bound:,.0f} {unit}s/s on this machine, "
            "even if the service and the load generator cost no CPU"
        )


def markdown_rows(title: str, cpu: list[CpuShare], unit: str) -> list[str]:
    """The shares as a markdown table (with a blank line before it) for docs/performance.md."""
    rows = ["", f"| {title} | cores | ms per {unit} |", "|---|---:|---:|"]
    return rows + [f"| {s.group} | {s.cores:.2f} | {s.ms_per_unit:.2f} |" for s in cpu]


def infrastructure_bound(cpu: list[CpuShare]) -> float | None:
    """Units per second the machine could do if only PostgreSQL, RabbitMQ and the kernel spent CPU."""
    outside = sum(s.ms_per_unit for s in cpu if s.group in INFRASTRUCTURE)
    return (os.cpu_count() or 1) * 1000 / outside if outside > 0 else None


@dataclass(frozen=True)
class Budget:
    """The CPU one unit of work may cost at a target rate, against what the measured window spent on it."""

    unit: str
    target_per_s: float
    per_unit_ms: float
    floor_ms: float
    load_generator_ms: float
    application_ms: float

    @classmethod
    def of(cls, target_per_s: float, floor_ms: float, shares: list[CpuShare], unit: str) -> Budget | None:
        """The budget at `target_per_s`, given the floor's CPU per unit and the window's shares."""
        if not shares or target_per_s <= 0:
            return None
        spent = sum(share.ms_per_unit for share in shares)
        load = sum(share.ms_per_unit for share in shares if share.group == "load generator")
        return cls(
            unit=unit,
            target_per_s=target_per_s,
            per_unit_ms=(os.cpu_count() or 1) * 1000 / target_per_s,
            floor_ms=floor_ms,
            load_generator_ms=load,
            application_ms=spent - floor_ms - load,
        )

    @property
    def room_ms(self) -> float:
        """What the target leaves the services' own code per unit: the budget less the floor and the load."""
        return self.per_unit_ms - self.floor_ms - self.load_generator_ms

    def in_words(self) -> str:
        return (
            f"at the target ({self.target_per_s:,.0f} {self.unit}s/s on {os.cpu_count()} cores) one {self.unit} "
            f"may cost {self.per_unit_ms:.2f} ms of the machine's CPU; the floor takes {self.floor_ms:.2f} and the "
            f"load generator {self.load_generator_ms:.2f}, leaving {self.room_ms:.2f} ms for the services' own code "
            f"(everything above the raw parts, in every process), which spent {self.application_ms:.2f} ms per "
            f"{self.unit} in this window."
        )
