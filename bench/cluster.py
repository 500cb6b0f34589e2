"""Cluster benchmark: throughput on a three-node RabbitMQ cluster with one replica of each worker, then two.

Starts deploy/cluster/up (its own node names and folder), a database of its own, and the services as processes
(tests/support/cluster.py): two ingress replicas behind a local round-robin in both phases, and one, then two,
replicas of each worker (processor, refunds, and the webhooks worker when it exists). Each phase runs the same
load as tests/cluster (tests/support/cluster_load.py: cash payments and Payme cycles, each call repeated, retried
as clients do) and reports what completed per second. The faults and their counted verdict are tests/cluster's
(`pytest tests/cluster -s` prints its timeline and figures).

    python bench/cluster.py [--payments 1000] [--payme 300] [--concurrency 24] [--read-replica]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support holds the harness the test uses

from cryptography.fernet import Fernet

from shared.persistence.database import create_engine
from shared.security.cipher import Cipher
from shared.settings import Settings
from tests.conftest import Servers, drop_database, new_database
from tests.support.cluster import Fleet, RabbitCluster
from tests.support.cluster_load import Tally, run_load
from tests.support.payme import KEY, MERCHANT
from tests.support.replica import StreamingReplica
from tests.support.round_robin import RoundRobin
from tests.support.system import free_port
from tests.support.world import TenantWorld, make_tenant

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
WEBHOOKS = Path(__file__).resolve().parents[1] / "services" / "webhooks"
WORKERS = ("processor", "refunds", *(("webhooks",) if WEBHOOKS.is_dir() else ()))
COLUMNS: tuple[str, ...] = ("worker replicas", "cash paid", "Payme cycles", "time", "payments/s", "Payme calls/s")
COLUMNS += ("both/s", "client retries", "failures")


@dataclass(frozen=True)
class Phase:
    replicas: int
    tally: Tally

    @property
    def payments_per_s(self) -> float:
        return self.tally.cash_done / self.tally.seconds

    @property
    def payme_calls_per_s(self) -> float:
        return self.tally.payme_calls / self.tally.seconds

    def line(self) -> str:
        retries = sum(self.tally.retries.values())
        return (
            f"| {self.replicas} | {self.tally.cash_done} | {self.tally.payme_done} | {self.tally.seconds:.1f} s "
            f"| {self.payments_per_s:.1f} | {self.payme_calls_per_s:.1f} "
            f"| {(self.tally.cash_done + self.tally.payme_done) / self.tally.seconds:.1f} | {retries} "
            f"| {len(self.tally.failed) + len(self.tally.payme_mismatches)} |"
        )


async def phase(
    settings: Settings, read_url: str | None, tenant: TenantWorld, replicas: int, args: argparse.Namespace
) -> Phase:
    fleet = Fleet(settings, read_url)
    try:
        await asyncio.to_thread(fleet.start, 2, dict.fromkeys(WORKERS, replicas))
        proxy = RoundRobin(fleet.backends())
        await proxy.start()
        try:
            print(f"phase: {replicas} replica(s) of {', '.join(WORKERS)}", file=sys.stderr)
            tally = await run_load(
                proxy.url,
                tenant.auth,
                str(tenant.accounts["cash"]),
                str(tenant.accounts["payme"]),
                args.payments,
                args.payme,
                concurrency=args.concurrency,
            )
        finally:
            await proxy.close()
    finally:
        await asyncio.to_thread(fleet.stop)
    return Phase(replicas, tally)


async def measure(cluster: RabbitCluster, database: str, read_url: str | None, args: argparse.Namespace) -> None:
    settings = Settings(
        database_url=database,
        amqp_url=cluster.amqp_url,
        secret_key=Fernet.generate_key().decode(),
        scheduler_interval_s=0.5,
    )
    engine = create_engine(database, pool_size=2)
    try:
        cipher = Cipher(settings.secret_key or "")
        configs = {"cash": {}, "payme": {"merchant_id": MERCHANT, "key": KEY}}
        phases = [
            await phase(settings, read_url, await make_tenant(engine, cipher, configs=configs), n, args) for n in (1, 2)
        ]
    finally:
        await engine.dispose()
    print(
        f"\nThree-node RabbitMQ cluster, two ingress replicas behind a round-robin, {args.concurrency} clients; "
        f"{args.payments} cash payments and {args.payme} Payme cycles (each call sent twice) per phase"
        f"{', reads on a streaming replica' if read_url else ''}.\n"
    )
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---:|" * len(COLUMNS))
    for measured in phases:
        print(measured.line())
    one, two = phases
    print(f"\ntwo replicas against one: {two.payments_per_s / one.payments_per_s:.2f}x the payments per second")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--payme", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--read-replica", action="store_true", help="serve the reads from a streaming replica")
    args = parser.parse_args()
    cluster = RabbitCluster()
    database = ""
    replica: StreamingReplica | None = None
    try:
        print("starting the RabbitMQ cluster", file=sys.stderr)
        cluster.up()
        database = new_database(Servers(PG_SERVER, ""))
        if args.read_replica:
            replica = StreamingReplica(port=free_port())
            replica.create()
        read_url = replica.url(database.rsplit("/", 1)[1]) if replica else None
        asyncio.run(measure(cluster, database, read_url, args))
    finally:
        if replica is not None:
            replica.remove()
        if database:
            drop_database(database)
        cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
