"""Reporting's per-batch `ratio_holders` read: `= ANY($1::text[])` (as now), the `IN ($1, …, $n)`
list it replaced, and a join on unnest.

    .venv/bin/python -m bench.ratio_holders_read [--holders 300000] [--batches 200] [--batch 170]

Loads `holders` rows into the real reporting schema's ratio_holders by COPY, then reads batches
of `batch` person keys (a quarter of them new, as when certificates arrive for people not seen
yet) through asyncpg prepared statements, the way the service does (so PostgreSQL may switch to a
generic plan after five executions), each batch followed by the projection's upsert of the same
keys (the dead row versions it leaves are part of what the read pays). The statement forms
take turns batch by batch in one run; it prints ms per batch for each, their ratio, and
EXPLAIN (ANALYZE, BUFFERS) of each prepared statement once it has run more than five times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg

from services.reporting.main import MIGRATIONS
from shared.db import ensure_database, make_engine, migrate
from shared.embedded import EmbeddedPostgres
from shared.settings import normalise_async_url, with_database

COLUMNS = "person_key, employed, district, home_district, certificates"
FORMS = {
    "any": f"SELECT {COLUMNS} FROM ratio_holders WHERE ratio_holders.person_key = ANY ($1::TEXT[])",
    "unnest": f"SELECT {COLUMNS} FROM ratio_holders JOIN unnest($1::TEXT[]) AS k(key) "
              "ON ratio_holders.person_key = k.key",
}
UPSERT = ("INSERT INTO ratio_holders (person_key, employed, district, home_district, certificates) "
          "SELECT k, true, '320612', '320612', '[]'::jsonb FROM unnest($1::text[]) AS k "
          "ON CONFLICT (person_key) DO UPDATE SET employed = excluded.employed, district = excluded.district, "
          "home_district = excluded.home_district, certificates = excluded.certificates")


def key(i: int) -> str:
    return f"pk-{i:012d}"


async def load(conn: asyncpg.Connection, holders: int) -> None:
    rows = [(key(i), True, "320612", "320612", json.dumps([[f"c-{i}", 4]])) for i in range(holders)]
    await conn.copy_records_to_table("ratio_holders", records=rows,
                                     columns=["person_key", "employed", "district", "home_district", "certificates"])
    await conn.execute("ANALYZE ratio_holders")


async def run(dsn: str, args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(dsn)
    await load(conn, args.holders)
    forms = FORMS | {"in": f"SELECT {COLUMNS} FROM ratio_holders WHERE ratio_holders.person_key IN ("
                           + ", ".join(f"${i + 1}" for i in range(args.batch)) + ")"}
    statements = {name: await conn.prepare(sql) for name, sql in forms.items()}
    upsert = await conn.prepare(UPSERT)
    times: dict[str, list[float]] = {name: [] for name in forms}
    fresh = args.holders
    for b in range(args.batches):
        for name, stmt in statements.items():  # both forms every batch, in turn first
            old = [key((b * args.batch * 7 + j * 13) % args.holders) for j in range(args.batch * 3 // 4)]
            keys = old + [key(fresh + j) for j in range(args.batch - len(old))]
            fresh += args.batch - len(old)
            async with conn.transaction():
                t = time.perf_counter()
                got = await (stmt.fetch(*keys) if name == "in" else stmt.fetch(keys))
                times[name].append((time.perf_counter() - t) * 1000)
                assert len(got) >= len(old) * 9 // 10
                await upsert.fetch(keys)
        names = list(statements)
        statements = {n: statements[n] for n in names[1:] + names[:1]}  # each form first in turn
    array = "'{" + ",".join(key(j * 97 % args.holders) for j in range(args.batch)) + "}'::text[]"
    for name, sql in FORMS.items():  # as a prepared statement's sixth+ execution: its cached plan
        await conn.execute(f"PREPARE p_{name} AS {sql}")
        for _ in range(6):
            await conn.fetch(f"EXECUTE p_{name}({array})")
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE p_{name}({array})")
        print(f"--- {name}: {sql}\n" + "\n".join(r[0] for r in plan))
    means = {n: statistics.fmean(v) for n, v in times.items()}
    for n, v in times.items():
        print(f"{n:7s} ms per batch of {args.batch}: mean {means[n]:.2f}, p50 {statistics.median(v):.2f}, "
              f"max {max(v):.2f}")
    print(f"any / in: {means['any'] / means['in']:.2f}; unnest / any: {means['unnest'] / means['any']:.2f}")
    await conn.close()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ratio-read-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        try:
            url = with_database(normalise_async_url(pg.start()), "ratio_read")
            await ensure_database(url)
            engine = make_engine(url, pool_size=1)
            await migrate(engine, MIGRATIONS)
            await engine.dispose()
            await run(url.replace("postgresql+asyncpg://", "postgresql://", 1), args)
        finally:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holders", type=int, default=300_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=170)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
