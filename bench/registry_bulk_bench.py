"""Registry bulk import vs raw COPY of the same rows, in the same run, on the same server.

    .venv/bin/python -m bench.registry_bulk_bench [--rows 200000] [--database-url postgresql://...]

The bulk path is the one POST /v1/bulk/people runs once the body is read: NDJSON parse, pydantic
validation, GB 11643 check, permission check, AES-GCM encryption and keyed hash of the ID, one
INSERT ... SELECT unnest(...) ON CONFLICT per 5,000-line chunk, and one `registry.person.registered`
outbox row per new person, in one transaction. The floor is asyncpg COPY of the already-prepared
people rows (no validation, no encryption, no events) into an identical table. Prints rows/s for
both, their ratio, and the time to load Nantong's 4.6 million employed people at the bulk rate.
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
from shared.outbox import add_events
from shared.pii import encrypt_pii, load_pii_key, lookup_hash
from shared.settings import DEV_PII_KEY, normalise_async_url, with_database

NANTONG_EMPLOYED = 4_600_000
DISTRICT = AuthPrincipal("bench-district", "district", districts=frozenset({"320612"}))


def person_id(i: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=i // 1000)
    first17 = f"320612{born:%Y%m%d}{i % 1000:03d}"
    return first17 + resident_id_check_char(first17)


class BenchRuntime:
    """Just what the bulk handlers use: the PII key and `emit` into the outbox."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"pii_key": load_pii_key(DEV_PII_KEY)}

    async def emit(self, session: Any, envelopes: Any) -> None:
        await add_events(session, plumbing.outbox, envelopes)


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
    async with maker() as s:
        await s.execute(text("TRUNCATE people, outbox CASCADE"))
        await s.execute(text("DROP TABLE IF EXISTS people_copy"))
        await s.execute(text("CREATE TABLE people_copy (LIKE people INCLUDING ALL)"))
        await s.commit()
    started = time.perf_counter()
    async with maker() as s:
        results = await bulk.import_people(s, runtime, DISTRICT, body)  # type: ignore[arg-type]
        await s.commit()
    bulk_s = time.perf_counter() - started
    assert all(r.status == "created" for r in results), "bench rows must all be new"
    started = time.perf_counter()
    rows = copy_rows(ids, runtime.state["pii_key"])
    prep_s = time.perf_counter() - started
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        started = time.perf_counter()
        await raw.copy_records_to_table("people_copy", records=rows,
                                        columns=["person_key", "resident_id_cipher", "birth_date", "sex", "district"])
        copy_s = time.perf_counter() - started
    async with maker() as s:
        replay_started = time.perf_counter()
        replay = await bulk.import_people(s, runtime, DISTRICT, body)  # type: ignore[arg-type]
        await s.commit()
        replay_s = time.perf_counter() - replay_started
        outbox = await s.scalar(text("SELECT count(*) FROM outbox"))
    assert all(r.status == "unchanged" for r in replay) and outbox == n
    await engine.dispose()
    return {"rows": n, "bulk_s": bulk_s, "copy_s": copy_s, "prep_s": prep_s, "replay_s": replay_s}


def report(m: dict[str, float]) -> None:
    n = m["rows"]
    bulk_rate, copy_rate = n / m["bulk_s"], n / m["copy_s"]
    print(f"rows                         {n:>12,.0f}")
    print(f"bulk import (NDJSON->people+outbox)  {bulk_rate:>12,.0f} rows/s  ({m['bulk_s']:.2f} s)")
    print(f"raw COPY of the same rows            {copy_rate:>12,.0f} rows/s  ({m['copy_s']:.2f} s)")
    print(f"  (+ preparing COPY rows: hash+encrypt {m['prep_s']:.2f} s, not counted in COPY)")
    print(f"ratio bulk / COPY                    {bulk_rate / copy_rate:>12.1%}")
    print(f"ratio bulk / (prepare + COPY)        {m['copy_s'] and n / m['bulk_s'] / (n / (m['copy_s'] + m['prep_s'])):>12.1%}")
    print(f"replay of the same file (unchanged)  {n / m['replay_s']:>12,.0f} rows/s")
    est = NANTONG_EMPLOYED / bulk_rate
    print(f"estimated load of {NANTONG_EMPLOYED:,} people at the bulk rate: {est / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", help="a postgresql:// server URL; default: embedded PostgreSQL")
    args = parser.parse_args()
    if args.database_url:
        url = with_database(normalise_async_url(args.database_url), "skillsub_bench_registry")
        report(asyncio.run(run(url, args.rows)))
        return
    from shared.embedded import EmbeddedPostgres
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="skillsub-bench-pg-")) / "data")
    try:
        url = with_database(normalise_async_url(pg.start()), "skillsub_bench_registry")
        report(asyncio.run(run(url, args.rows)))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
