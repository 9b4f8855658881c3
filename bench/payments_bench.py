"""Payments benchmark: postings/s on one hot fund through the real DB path vs the raw ceiling.

Run: .venv/bin/python bench/payments_bench.py [--n 20000] [--batch 2000] [--statements]
     (DATABASE_URL=postgresql://... to use a running server; else an embedded PostgreSQL starts)
Real path, per batch of decisions, each step one transaction through the service's own code:
  draft (handlers.on_decided: record the decisions, reconcile their triggers, draft) -> batch ->
  approve -> release (5 postings each, the payee's account fixed) -> statement paid (2 postings
  each, the treasury's answer reconciled), with the fund row locked, CHECKs, the balance and
  append-only triggers and the outbox events. Every payee's account is on record (registry events
  applied before the clock starts).
Ceiling, same run, same server, into a plain table shaped like ledger_postings (same two indexes,
no rules): the same number of posting rows written (a) at the real path's granularity, one
`INSERT ... SELECT unnest(...)` transaction per posting statement the real path commits (per batch:
5 x batch release rows, then 2 x batch paid rows), (b) by one INSERT of every row, (c) by one COPY.
Synthetic data: one district, one source, example amounts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import gc
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.payments import handlers, manual, paying
from services.payments import postings as pg
from services.payments.disbursements import Actor, Role
from services.payments.funding import load_funding
from services.payments.ledger import Fund, FundingSource
from services.payments.main import MIGRATIONS
from services.payments.treasury import StatementLine
from shared.db import drop_database, ensure_database, make_engine, make_sessionmaker, migrate
from shared.events import PayeeAccountRecordedV1, SubsidyDecidedV2, new_envelope
from shared.memory import settle_start_up_heap
from shared.pii import encrypt_pii, load_pii_key
from shared.settings import Settings, normalise_async_url, with_database

HOT = Fund(FundingSource.UNEMPLOYMENT_INSURANCE_SURPLUS, "320612")
HR, FIN = Actor("hr-1", Role.HR), Actor("fin-1", Role.FINANCE)
HR2, FIN2 = Actor("hr-2", Role.HR), Actor("fin-2", Role.FINANCE)
PII_KEY = load_pii_key(Settings().skillsub_pii_key)
AMOUNT = 97_500  # example: a level-3 四.4 subsidy


class BenchRuntime:
    """Only what handlers need from the service runtime: stage events in the outbox."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"funding": load_funding(), "pii_key": PII_KEY}

    async def emit(self, session: Any, envelopes: Any) -> None:
        await pg.emit(self, session, envelopes)  # what every payments route and handler calls


STEPS = ("draft", "batch", "approve", "release", "paid")
SERVER_PIDS: list[int] = []  # the embedded server's postmaster, when this run started one


def server_cpu() -> float:
    """CPU seconds the embedded PostgreSQL (postmaster and backends) has used; 0 for a DATABASE_URL."""
    import psutil

    total = 0.0
    for pid in SERVER_PIDS:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
    return total


def person(i: int) -> str:
    return f"{i:064x}"  # the shape of a person key (a 64-hex keyed hash)


async def real_path(maker: Any, n: int, batch: int, steps: dict[str, float]) -> tuple[int, float]:
    funding, rt = load_funding(), BenchRuntime()
    async with maker() as s:
        item = await manual.draft(s, FIN2, manual.ManualKind.ALLOCATION, "bench-alloc", HOT, AMOUNT * n)
        await manual.approve(s, item["item_id"], HR)
        await manual.release(s, item["item_id"], FIN)
        await s.commit()
    cipher = base64.b64encode(encrypt_pii(PII_KEY, "6217000000000000012")).decode()
    for i in range(0, n, batch):  # the registry sent every worker's card account before
        async with maker() as s:
            await handlers.on_account(s, [new_envelope(PayeeAccountRecordedV1(
                payee_kind="worker", payee_ref=person(j), account_kind="social_security_card",
                account_cipher=cipher, account_masked="6217***********0012", revision=1,
                recorded_on=dt.date(2020, 5, 1)), key=person(j), producer="registry").typed()
                for j in range(i, min(n, i + batch))], rt)
            await s.commit()
    settle_start_up_heap()  # what the service does once started (shared/app.py)
    # The consumed batches as the inbox hands them over (parsed envelopes): built before the clock,
    # since parsing is the inbox's work, not payments'.
    batches = [_decisions(min(batch, n - i), i) for i in range(0, n, batch)]
    gc.callbacks.append(_gc_clock)
    start, cpu, db_cpu = time.perf_counter(), time.process_time(), server_cpu()
    for events in batches:
        await _one_batch(maker, rt, funding, events, _Clock(steps))
    seconds = time.perf_counter() - start
    gc.callbacks.remove(_gc_clock)
    steps["gc cpu"] = _GC["cpu"]
    steps["python cpu"] = time.process_time() - cpu  # this process only
    steps["server cpu"] = server_cpu() - db_cpu
    async with maker() as s:
        postings = await s.scalar(sa.text("SELECT count(*) FROM ledger_postings")) - 2  # minus the allocation
    return int(postings), seconds


_GC = {"cpu": 0.0, "since": 0.0}


def _gc_clock(phase: str, info: dict[str, Any]) -> None:
    """CPU seconds in the cyclic garbage collector (part of the Python CPU)."""
    del info
    if phase == "start":
        _GC["since"] = time.process_time()
    else:
        _GC["cpu"] += time.process_time() - _GC["since"]


class _Clock:
    """Adds the seconds since the previous lap to steps[name], and this process's CPU seconds to
    steps[name + " cpu"] (CPU moves far less with the shared machine's load than wall time)."""

    def __init__(self, steps: dict[str, float]) -> None:
        self.steps, self.last, self.cpu = steps, time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.steps[name] = self.steps.get(name, 0.0) + now - self.last
        self.steps[name + " cpu"] = self.steps.get(name + " cpu", 0.0) + cpu - self.cpu
        self.last, self.cpu = now, cpu


def _decisions(size: int, offset: int) -> list[Any]:
    payloads = [SubsidyDecidedV2(decision_id=uuid.uuid4(), person_key=person(offset + j), trigger_id=uuid.uuid4(),
                                 trigger_kind="certificate", clause="四.4", outcome="approved", amount_fen=AMOUNT,
                                 clauses_cited=["四.4"], district=HOT.district, decided_on=dt.date(2020, 6, 1),
                                 year=2020, payee_kind="worker", payee_ref=person(offset + j))
                for j in range(size)]
    return [new_envelope(p, key=p.person_key, producer="eligibility", event_id=p.decision_id).typed()
            for p in payloads]


async def _one_batch(maker: Any, rt: Any, funding: Any, events: list[Any], clock: _Clock) -> None:
    size = len(events)
    async with maker() as s:
        await handlers.on_decided(s, events, rt)  # what the consumer does with one batch
        clock.lap("draft")
        batch_id = uuid.UUID((await paying.create_batch(s, HR, limit=size))["batch_id"])
        await s.commit()
    clock.lap("batch")
    async with maker() as s:
        await rt.emit(s, await paying.approve_batch(s, batch_id, HR))
        await s.commit()
    clock.lap("approve")
    async with maker() as s:
        released = await paying.release_batch(s, rt, batch_id, FIN)
        await rt.emit(s, released.events)
        await s.commit()
    clock.lap("release")
    async with maker() as s:  # the treasury's order (what the payment file carries), then its statement
        order = await paying.order_lines(s, PII_KEY, batch_id)
    lines = [StatementLine(k + 2, ln.payment_ref, ln.amount_fen, "paid") for k, ln in enumerate(order)]
    async with maker() as s:
        _, events = await paying.reconcile(s, rt, f"st-{batch_id}", lines)
        await rt.emit(s, events)
        await s.commit()
    clock.lap("paid")


_RAW_INSERT = sa.text("INSERT INTO raw_postings (txn_id, account, amount_fen) SELECT * FROM unnest("
                      "CAST(:t AS uuid[]), CAST(:a AS text[]), CAST(:m AS bigint[]))")


async def _raw_insert(engine: Any, data: list[tuple[uuid.UUID, str, int]]) -> None:
    async with engine.begin() as conn:
        await conn.execute(_RAW_INSERT, {"t": [r[0] for r in data], "a": [r[1] for r in data],
                                         "m": [r[2] for r in data]})


async def ceiling(engine: Any, rows: int, batch: int) -> tuple[float, float, float]:
    """Seconds to write `rows` posting rows, no rules at all: at the real path's statement sizes
    (release 5 x batch, paid 2 x batch rows, one transaction each), by one INSERT, by one COPY."""
    ids = [uuid.uuid4() for _ in range(rows // 5 + 1)]
    data = [(ids[k // 5], f"special|x|320612|p{k}|", 1) for k in range(rows)]
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE raw_postings (id bigint GENERATED BY DEFAULT AS IDENTITY "
                                   "PRIMARY KEY, txn_id uuid NOT NULL, account text NOT NULL, amount_fen bigint "
                                   "NOT NULL)")
        await conn.exec_driver_sql("CREATE INDEX ON raw_postings (txn_id)")
        await conn.exec_driver_sql("CREATE INDEX ON raw_postings (account)")
    start, k = time.perf_counter(), 0
    while k < rows:  # the real path's posting statements: release (5 per item), then paid (2 per item)
        for size in (5 * batch, 2 * batch):
            await _raw_insert(engine, data[k:k + size])
            k += size
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    await _raw_insert(engine, data)
    insert_s = time.perf_counter() - start
    start = time.perf_counter()
    async with engine.begin() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            "raw_postings", records=data, columns=["txn_id", "account", "amount_fen"])
    return batched_s, insert_s, time.perf_counter() - start


_TOP = ("SELECT calls, rows, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query "
        "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "ORDER BY total_exec_time DESC LIMIT 15")


async def _sql(url: str, *statements: str) -> list[Any]:
    """Run statements on their own connection; the last one's rows."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows: list[Any] = []
        for sql in statements:
            rows = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


async def main(n: int, batch: int, statements: bool = False) -> None:
    server = os.environ.get("DATABASE_URL")
    pg = None
    if not server:
        from shared.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="skillsub-bench-pg-")) / "data")
        server = pg.start()
        if statements:  # the extension needs shared_preload_libraries: set it, restart
            await _sql(server, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            pg.stop()
            server = pg.start()
        SERVER_PIDS.append(int((pg.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]))
    url = with_database(normalise_async_url(server), f"bench_payments_{uuid.uuid4().hex[:6]}")
    await ensure_database(url)
    engine = make_engine(url, pool_size=2)
    try:
        await migrate(engine, MIGRATIONS)
        if statements:
            await _sql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "SELECT pg_stat_statements_reset()")
        steps: dict[str, float] = {}
        postings, seconds = await real_path(make_sessionmaker(engine), n, batch, steps)
        top = await _sql(url, _TOP) if statements else []
        batched_s, insert_s, copy_s = await ceiling(engine, postings, batch)
    finally:
        await engine.dispose()
        await drop_database(url)
        if pg is not None:
            pg.stop()
    rate = postings / seconds
    ceilings = {"INSERT per step": batched_s, "one INSERT": insert_s, "one COPY": copy_s}
    print(f"decisions {n:,} in batches of {batch:,}; one hot fund {HOT.source.value}/{HOT.district}")
    print(f"real path  {postings:>9,} postings in {seconds:6.2f} s = {rate:>10,.0f} postings/s "
          "(draft+batch+approve+release+paid, events included)")
    print("  steps (s): " + ", ".join(f"{k} {steps.get(k, 0):.2f}" for k in STEPS)
          + f"; cpu: python {steps['python cpu']:.2f} (collector {steps['gc cpu']:.2f}), "
          f"server {steps['server cpu']:.2f}")
    print("  python cpu per step (s): " + ", ".join(f"{k} {steps.get(k + ' cpu', 0):.2f}" for k in STEPS))
    cpu_us = (steps["python cpu"] + steps["server cpu"]) * 1e6 / postings
    print(f"  cpu per posting: {cpu_us:.1f} us (python + server) = {1e6 / cpu_us:,.0f} postings per CPU second")
    for name, secs in ceilings.items():
        print(f"ceiling    {name:<16} {postings / secs:>10,.0f} postings/s -> real path = "
              f"{rate * secs / postings:.0%} of it")
    print("goal: >= 25,000 postings/s and >= 50% of the ceiling")
    if top:
        print("pg_stat_statements, real path (accounts set-up included): calls, rows, ms, statement")
        for r in top:
            print(f"  {r['calls']:>6} {r['rows']:>8} {r['total_exec_time']:>8.0f}  {r['query']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--statements", action="store_true",
                        help="embedded server only: load pg_stat_statements and print the costliest statements")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.batch, args.statements))
