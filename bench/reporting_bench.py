"""Reporting at city scale: the ratio endpoint's latency and the projection's events/s.

    .venv/bin/python -m bench.reporting_bench [--holders 1300000] [--employed 4600000] [--events 40000]
                                              [--database-url postgresql://...]

1. Loads 1.3 million certificate holders (ratio_holders) and their bucket counters by COPY into
   the real reporting schema, and 4.6 million employed persons as the statistics bureau's
   per-district denominators for 2019–2021; then times GET /v1/ratios through the real app
   (ASGI, real PostgreSQL) and reports p50/p95 (goal: p95 ≤ 50 ms).
2. Feeds synthetic registry and eligibility events through the projection in batches of 2,000 (as
   the inbox does: one transaction per batch) and reports events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.reporting import projections
from services.reporting.domain import load_targets
from services.reporting.main import MIGRATIONS, create_app
from shared.db import ensure_database, make_engine, make_sessionmaker, migrate
from shared.events import (
    CertificateIssuedV1,
    Envelope,
    PersonFactRecordedV1,
    SubsidyDecidedV1,
    new_envelope,
)
from shared.settings import Settings, normalise_async_url, with_database

DISTRICTS = ("320612", "320613", "320614", "320623", "320681", "320682", "320685", "320671")
BATCH = 2000


def holder_rows(n: int, rng: random.Random) -> tuple[list[tuple[Any, ...]], Counter[tuple[str, int, int]]]:
    rows, buckets = [], Counter()
    for i in range(n):
        district = rng.choice(DISTRICTS)
        level, year = rng.choice((5, 5, 4, 4, 4, 3, 3, 2, 1, 6)), rng.choice((2018, 2019, 2020, 2021))
        employed = rng.random() < 0.9
        rows.append((f"bench-{i}", employed, district, district, json.dumps([[f"c{i}", level]])))
        if employed:
            buckets[(district, year, level)] += 1
    return rows, buckets


async def load(engine: AsyncEngine, holders: int, employed: int) -> None:
    rng = random.Random(7)
    rows, buckets = holder_rows(holders, rng)
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute("TRUNCATE ratio_holders, ratio_buckets, employed_stats")
        started = time.perf_counter()
        await raw.copy_records_to_table(
            "ratio_holders", records=rows,
            columns=["person_key", "employed", "district", "home_district", "certificates"])
        await raw.copy_records_to_table(
            "ratio_buckets", records=[(d, y, lv, c) for (d, y, lv), c in buckets.items()],
            columns=["district", "year", "level", "persons"])
        share = employed // len(DISTRICTS)
        await raw.copy_records_to_table("employed_stats", records=[
            (y, d, share, "bench") for y in (2019, 2020, 2021) for d in DISTRICTS],
            columns=["year", "district", "employed", "source"])
        print(f"COPY {holders:,} holders + {len(buckets)} bucket rows + denominators "
              f"({share * len(DISTRICTS):,} employed/year): {time.perf_counter() - started:.1f} s")


async def time_ratios(engine: AsyncEngine, requests: int) -> list[float]:
    app = create_app(Settings(skillsub_env="test"))
    runtime = app.state.runtime
    runtime.engine, runtime.maker = engine, make_sessionmaker(engine)
    runtime.state["targets"] = load_targets()
    took = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        first = (await client.get("/v1/ratios", params={"year": 2021})).json()
        print(f"city 2021: employed {first['city']['employed']:,}, skilled {first['city']['skilled']:,}, "
              f"share {first['city']['skilled_share']}")
        for _ in range(requests):
            t = time.perf_counter()
            r = await client.get("/v1/ratios", params={"year": 2021})
            took.append(time.perf_counter() - t)
            assert r.status_code == 200
    return took


def events(n: int, rng: random.Random) -> tuple[list[Envelope], list[Envelope]]:
    registry, decisions = [], []
    for i in range(n // 2):
        person = f"ev-{i}"
        registry.append(new_envelope(PersonFactRecordedV1(
            fact_id=uuid.uuid4(), person_key=person, kind="employment", valid_from=dt.date(2019, 3, 1),
            source="employment_service", attributes={"district": rng.choice(DISTRICTS)}),
            key=person, producer="registry"))
        registry.append(new_envelope(CertificateIssuedV1(
            certificate_id=uuid.uuid4(), person_key=person, number="Y" + "0" * 21, kind="skill_level",
            occupation_code="6-18-01-01", level=rng.randint(1, 5), issue_date=dt.date(2020, 5, 1),
            issuer_code="52320613MJ0000003P", issued_in_nantong=True), key=person, producer="registry"))
        decisions.append(new_envelope(SubsidyDecidedV1(
            decision_id=uuid.uuid4(), person_key=person, trigger_id=uuid.uuid4(), trigger_kind="certificate",
            clause=rng.choice(("四.2", "四.4", "五.3", "四.7")), outcome="approved", amount_fen=70_000,
            clauses_cited=["四.2"], decided_on=dt.date(2020, rng.randint(1, 12), 1), year=2020,
            district=rng.choice(DISTRICTS), target_groups=["employee"]), key=person, producer="eligibility"))
    return registry, decisions


async def time_projection(engine: AsyncEngine, batch: list[Envelope]) -> float:
    maker, targets = make_sessionmaker(engine), load_targets().on(dt.date(2020, 12, 31))
    started = time.perf_counter()
    for i in range(0, len(batch), BATCH):
        async with maker() as session, session.begin():
            await projections.apply(session, [e.typed() for e in batch[i:i + BATCH]], targets)
    return len(batch) / (time.perf_counter() - started)


async def run(url: str, holders: int, employed: int, n_events: int) -> None:
    await ensure_database(url)
    engine = make_engine(url, pool_size=4)
    try:
        await migrate(engine, MIGRATIONS)
        await load(engine, holders, employed)
        took = sorted(await time_ratios(engine, 200))
        p95 = took[int(len(took) * 0.95) - 1]
        print(f"GET /v1/ratios over {len(took)} requests: p50 {statistics.median(took) * 1000:.1f} ms, "
              f"p95 {p95 * 1000:.1f} ms (goal ≤ 50 ms)")
        registry, decisions = events(n_events, random.Random(11))
        print(f"projection, registry events (employment + certificate): "
              f"{await time_projection(engine, registry):,.0f} events/s over {len(registry):,}")
        print(f"projection, subsidy decisions: "
              f"{await time_projection(engine, decisions):,.0f} events/s over {len(decisions):,}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holders", type=int, default=1_300_000)
    parser.add_argument("--employed", type=int, default=4_600_000)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--database-url", help="a postgresql:// server URL; default: embedded PostgreSQL")
    args = parser.parse_args()
    if args.database_url:
        url = with_database(normalise_async_url(args.database_url), "skillsub_bench_reporting")
        asyncio.run(run(url, args.holders, args.employed, args.events))
        return
    from shared.embedded import EmbeddedPostgres
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="skillsub-bench-pg-")) / "data")
    try:
        url = with_database(normalise_async_url(pg.start()), "skillsub_bench_reporting")
        asyncio.run(run(url, args.holders, args.employed, args.events))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
