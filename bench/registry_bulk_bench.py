"""Registry bulk import vs raw COPY of the same rows, in the same run, on the same server.

    .venv/bin/python -m bench.registry_bulk_bench [--rows 200000] [--load 4600000]
        [--request-lines 100000] [--database-url postgresql://...]

The bulk path is the one POST /v1/bulk/people runs once the body is read, up to the response body:
NDJSON parse, validation (PersonCreate's checks), GB 11643 check, permission check, AES-GCM
encryption and keyed hash of the ID, one statement per chunk inserting the people and staging one
`registry.person.registered` outbox row per new person (payload model, add_events), the NDJSON result
per line, one transaction per chunk.
The floor is asyncpg COPY of the already-prepared people rows (no validation, no encryption, no
events) into an identical table. Prints rows/s for both and their ratio. `--load N` then loads N
people into empty tables as a feeder would send them: files of `--request-lines` lines, one
transaction each, and prints the wall time (Nantong's employed: 4.6 million).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from services.registry import bulk
from services.registry.main import MIGRATIONS
from services.registry.store import plumbing
from shared.auth import AuthPrincipal
from shared.db import ensure_database, make_engine, make_sessionmaker, migrate
from shared.ids import parse_resident_id, resident_id_check_char
from shared.outbox import add_events, add_staged
from shared.pii import encrypt_pii, load_pii_key, lookup_hash
from shared.settings import DEV_PII_KEY, normalise_async_url, with_database

NANTONG_EMPLOYED = 4_600_000
DISTRICT = AuthPrincipal("bench-district", "district", districts=frozenset({"320612"}))


def person_id(i: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=i // 1000)
    first17 = f"320612{born:%Y%m%d}{i % 1000:03d}"
    return first17 + resident_id_check_char(first17)


class BenchRuntime:
    """Just what the bulk handlers use: the PII key and `emit` / `emit_staged` into the outbox."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"pii_key": load_pii_key(DEV_PII_KEY)}

    async def emit(self, session: Any, envelopes: Any) -> None:
        await add_events(session, plumbing.outbox, envelopes)

    async def emit_staged(self, session: Any, rows: Any) -> None:
        await add_staged(session, plumbing.outbox, rows)


def copy_rows(ids: list[str], key: bytes) -> list[tuple[Any, ...]]:
    rows = []
    for rid in ids:
        parsed = parse_resident_id(rid)
        rows.append((lookup_hash(key, rid), encrypt_pii(key, rid), parsed.birth_date, parsed.sex, "320612"))
    return rows


async def run(url: str, n: int) -> dict[str, float]:
    await ensure_database(url)
    engine = make_engine(url)
    await migrate(engine, MIGRATIONS)
    maker, runtime = make_sessionmaker(engine), BenchRuntime()
    ids = [person_id(i) for i in range(n)]
    body = "\n".join(json.dumps({"resident_id": r, "district": "320612"}) for r in ids).encode()
    # The service starts its worker process at start-up (services/registry/main.py): spawning it
    # re-imports the service's module tree in the child, seconds that belong to no upload.
    started = time.perf_counter()
    await bulk.off_loop(int)
    worker_s = time.perf_counter() - started
    async with maker() as s:
        await s.execute(text("TRUNCATE people, outbox CASCADE"))
        await s.execute(text("DROP TABLE IF EXISTS people_copy"))
        await s.execute(text("CREATE TABLE people_copy (LIKE people INCLUDING ALL)"))
        await s.commit()
    started = time.perf_counter()
    results = await post_people(maker, runtime, body)
    bulk_s = time.perf_counter() - started
    assert all(r.status == "accepted" for r in results)
    started = time.perf_counter()
    rows = copy_rows(ids, runtime.state["pii_key"])
    prep_s = time.perf_counter() - started
    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        started = time.perf_counter()
        await raw.copy_records_to_table("people_copy", records=rows,
                                        columns=["person_key", "resident_id_cipher", "birth_date", "sex", "district"])
        copy_s = time.perf_counter() - started
    replay_started = time.perf_counter()
    replay = await post_people(maker, runtime, body)
    replay_s = time.perf_counter() - replay_started
    async with maker() as s:
        outbox = await s.scalar(text("SELECT count(*) FROM outbox"))
    assert all(r.status == "accepted" for r in replay) and outbox == n
    await engine.dispose()
    return {"rows": n, "bulk_s": bulk_s, "copy_s": copy_s, "prep_s": prep_s, "replay_s": replay_s,
            "worker_s": worker_s}


async def post_people(maker: Any, runtime: BenchRuntime, body: bytes) -> list[bulk.LineResult]:
    """What the route does after reading the body: import, commit, render the response."""
    async with maker() as s:  # chunks commit as they go, as the route's do
        results = await bulk.import_people(s, runtime, DISTRICT, bulk.chunks_of(body))  # type: ignore[arg-type]
    assert len(bulk.render(results)) > 0
    return results


async def load(url: str, n: int, per_request: int) -> float:
    """Wall time to load n new people into empty tables in files of per_request lines."""
    engine = make_engine(url)
    maker, runtime = make_sessionmaker(engine), BenchRuntime()
    async with maker() as s:
        await s.execute(text("TRUNCATE people, outbox CASCADE"))
        await s.commit()
    elapsed = 0.0
    for first in range(0, n, per_request):
        body = "\n".join(json.dumps({"resident_id": person_id(i), "district": "320612"})
                         for i in range(first, min(n, first + per_request))).encode()
        started = time.perf_counter()
        results = await post_people(maker, runtime, body)
        elapsed += time.perf_counter() - started
        assert all(r.status == "accepted" for r in results)
    async with maker() as s:
        assert await s.scalar(text("SELECT count(*) FROM people")) == n
    await engine.dispose()
    return elapsed


def report(m: dict[str, float]) -> None:
    n = m["rows"]
    bulk_rate, copy_rate = n / m["bulk_s"], n / m["copy_s"]
    print(f"rows                         {n:>12,.0f}")
    print(f"worker process spawned and imported in {m['worker_s']:.2f} s (once, at service start; not counted)")
    print(f"  the same upload had it been the first: {n / (m['bulk_s'] + m['worker_s']):,.0f} rows/s, "
          f"{m['copy_s'] / (m['bulk_s'] + m['worker_s']):.1%} of COPY")
    print(f"bulk import (NDJSON->people+outbox)  {bulk_rate:>12,.0f} rows/s  ({m['bulk_s']:.2f} s)")
    print(f"raw COPY of the same rows            {copy_rate:>12,.0f} rows/s  ({m['copy_s']:.2f} s)")
    print(f"  (+ preparing COPY rows: hash+encrypt {m['prep_s']:.2f} s, not counted in COPY)")
    print(f"ratio bulk / COPY                    {bulk_rate / copy_rate:>12.1%}")
    print(f"ratio bulk / (prepare + COPY)        {(m['copy_s'] + m['prep_s']) / m['bulk_s']:>12.1%}")
    print(f"replay of the same file (no change)   {n / m['replay_s']:>12,.0f} rows/s")
    est = NANTONG_EMPLOYED / bulk_rate
    print(f"estimated load of {NANTONG_EMPLOYED:,} people at this bulk rate: {est / 60:.1f} min")


def report_load(n: int, per_request: int, seconds: float) -> None:
    print(f"measured load of {n:,} people in files of {per_request:,} lines: {seconds / 60:.1f} min "
          f"({n / seconds:,.0f} rows/s, building each file's NDJSON not counted)")


async def bench(url: str, args: argparse.Namespace) -> None:
    report(await run(url, args.rows))
    if args.load:
        report_load(args.load, args.request_lines, await load(url, args.load, args.request_lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--load", type=int, default=0, help="then load this many people (e.g. 4600000)")
    parser.add_argument("--request-lines", type=int, default=100_000)
    parser.add_argument("--database-url", help="a postgresql:// server URL; default: embedded PostgreSQL")
    args = parser.parse_args()
    if args.database_url:
        url = with_database(normalise_async_url(args.database_url), "skillsub_bench_registry")
        asyncio.run(bench(url, args))
        return
    from shared.embedded import EmbeddedPostgres
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="skillsub-bench-pg-")) / "data")
    try:
        url = with_database(normalise_async_url(pg.start()), "skillsub_bench_registry")
        asyncio.run(bench(url, args))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
