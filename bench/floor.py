"""The floor beside the platform, one process per hop as the services run: the same broker hops and
the same rows written by COPY, with no logic.

`run_floor(n, bootstrap, pg_url)` starts four hop processes (`python -m bench.floor hop ...`), waits
until each holds its partitions, then sends n messages to the first topic from this process. Hop i
reads topic i in batches, COPYs them into its own table in one transaction, forwards them to topic
i + 1 and commits its offsets, as a service does. Each hop reports when it crossed each tenth of n
(time.monotonic, one clock for every process on Linux), so its per-stage and per-tenth rates sit
beside the platform's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import psutil

HOPS = ("registry", "eligibility", "payments", "reporting")  # the service each hop stands for


async def _hop(args: argparse.Namespace) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(args.source, bootstrap_servers=args.bootstrap, group_id=f"floor-{args.source}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=2000)
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=5, max_batch_size=262144)
    await consumer.start()
    await producer.start()
    conn = await asyncpg.connect(args.pg)
    await conn.execute(f"CREATE TABLE {args.table} (id uuid PRIMARY KEY, body jsonb)")
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100, max_records=1)  # joins the group; nothing is sent yet
    print("READY", flush=True)
    seen, tenth = 0, max(1, args.n // 10)
    crossings: list[float] = []
    try:
        while seen < args.n:
            got = await consumer.getmany(timeout_ms=500, max_records=2000)
            batch = [r for rs in got.values() for r in rs]
            if not batch:
                continue
            async with conn.transaction():
                await conn.copy_records_to_table(args.table, records=[(uuid.uuid4(), r.value.decode()) for r in batch],
                                                 columns=["id", "body"])
            await asyncio.gather(*[await producer.send(args.sink, key=r.key, value=r.value) for r in batch])
            await consumer.commit()
            seen += len(batch)
            while len(crossings) < 10 and seen >= (len(crossings) + 1) * tenth:
                crossings.append(time.monotonic())
    finally:
        await consumer.stop()
        await producer.stop()
        await conn.execute(f"DROP TABLE IF EXISTS {args.table}")
        await conn.close()
    cpu = psutil.Process().cpu_times()
    return {"crossings": crossings, "cpu_user": cpu.user, "cpu_system": cpu.system,
            "rss_mb": psutil.Process().memory_info().rss / 2**20}


async def _seed(n: int, bootstrap: str, topic: str, body: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=262144)
    await producer.start()
    try:
        for _ in range(n):
            await producer.send(topic, key=uuid.uuid4().bytes, value=body)
        await producer.flush()
    finally:
        await producer.stop()


async def _create_topics(bootstrap: str, topics: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 4, 1) for t in topics])
    finally:
        await admin.close()


def run_floor(n: int, bootstrap: str, pg_url: str, body: bytes) -> dict[str, Any]:
    """{start, hops: {service: {crossings, cpu_user, cpu_system, rss_mb}}}; crossings are monotonic."""
    tag = uuid.uuid4().hex[:8]
    topics = [f"floor.{tag}.{i}" for i in range(len(HOPS) + 1)]
    asyncio.run(_create_topics(bootstrap, topics))
    procs = [subprocess.Popen([sys.executable, "-m", "bench.floor", "hop", "--n", str(n), "--bootstrap", bootstrap,
                               "--pg", pg_url, "--source", topics[i], "--sink", topics[i + 1],
                               "--table", f"floor_{tag}_{i}"], stdout=subprocess.PIPE, text=True)
             for i in range(len(HOPS))]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "READY":
                raise RuntimeError("a floor hop did not start")
        start = time.monotonic()
        asyncio.run(_seed(n, bootstrap, topics[0], body))
        outs = [p.communicate(timeout=3600)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    hops = {name: json.loads(out.strip().splitlines()[-1]) for name, out in zip(HOPS, outs, strict=True)}
    return {"start": start, "hops": hops}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("hop",))
    for name in ("--bootstrap", "--pg", "--source", "--sink", "--table"):
        parser.add_argument(name, required=True)
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_hop(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
