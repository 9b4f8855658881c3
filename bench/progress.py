"""What the pipeline bench watches while certificates flow: each stage's progress, read from a cheap
monotonic source once a second, and the CPU each service and its PostgreSQL backends spend.

Progress is PostgreSQL's own insert counter for the stage's table (`pg_stat_get_tuples_inserted`,
kept in shared memory: reading it costs the same at 305,000 rows as at 0), never a count over the
table. It may run ahead of the truth (an aborted insert counts too), so a stage is declared done
only when one exact count confirms it, run once the counter says the stage should be there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from shared.settings import SERVICES

# Payments' stage is the decisions it has received and reconciled: every approval is then held in
# its public notice (公示), and is drafted only once the notices end (watch_drafts, after the flow).
TABLES = {"registry": "certificates", "eligibility": "decisions", "payments": "received_decisions",
          "reporting": "decision_facts"}
CONFIRM = {  # the exact count, run once a stage's counter says it is done
    "registry": "SELECT count(*) FROM certificates",
    "eligibility": "SELECT count(DISTINCT trigger_id) FROM decisions WHERE current",
    "payments": "SELECT count(DISTINCT trigger_id) FROM received_decisions",
    "reporting": "SELECT count(DISTINCT trigger_id) FROM decision_facts WHERE current AND outcome = 'approved'",
}
INSERTED = "SELECT pg_stat_get_tuples_inserted($1::regclass)"


@dataclass
class CpuTrack:
    """CPU seconds (user, system) of processes seen during the run, grouped by a label."""

    first: dict[int, tuple[str, float, float]] = field(default_factory=dict)
    last: dict[int, tuple[str, float, float]] = field(default_factory=dict)

    def see(self, pid: int, label: str, *, existed: bool) -> None:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            return
        if pid not in self.first:
            self.first[pid] = (label, t.user, t.system) if existed else (label, 0.0, 0.0)
        self.last[pid] = (label, t.user, t.system)

    def totals(self) -> dict[str, tuple[float, float]]:
        out: dict[str, tuple[float, float]] = {}
        for pid, (label, user, system) in self.last.items():
            _, u0, s0 = self.first[pid]
            u, s = out.get(label, (0.0, 0.0))
            out[label] = (u + user - u0, s + system - s0)
        return out


@dataclass
class Watch:
    """Samples of (monotonic time, rows inserted since the start) per stage, and when each was done."""

    n: int
    start: float = 0.0
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: {s: [] for s in SERVICES})
    done: dict[str, float] = field(default_factory=dict)
    services: CpuTrack = field(default_factory=CpuTrack)
    postgres: CpuTrack = field(default_factory=CpuTrack)
    poll_seconds: list[float] = field(default_factory=list)  # each poll's wall time (waits on a busy machine)
    bench_cpu: float = 0.0  # CPU seconds the bench process spent while watching


async def watch(dsns: dict[str, str], procs: dict[str, Any], pg_dir: Path | None, n: int,
                pushing: asyncio.Task[None]) -> Watch:
    """Poll once a second until every stage holds n certificates (or the push fails)."""
    conns = {s: await asyncpg.connect(dsns[s]) for s in SERVICES}
    own = {c.get_server_pid() for c in conns.values()}
    base = {s: int(await conns[s].fetchval(INSERTED, TABLES[s])) for s in SERVICES}
    w = Watch(n=n, start=time.monotonic())
    cpu0 = time.process_time()
    await _cpu_async(w, procs, pg_dir, conns["registry"], own, existed=True)
    next_confirm: dict[str, float] = {}
    try:
        while len(w.done) < len(SERVICES):
            tick = time.monotonic()
            for s in SERVICES:
                if s in w.done:
                    continue
                inserted = int(await conns[s].fetchval(INSERTED, TABLES[s])) - base[s]
                w.samples[s].append((tick - w.start, inserted))
                if inserted >= n and tick >= next_confirm.get(s, 0.0):
                    if int(await conns[s].fetchval(CONFIRM[s])) >= n:
                        w.done[s] = time.monotonic() - w.start
                    next_confirm[s] = tick + 2.0
            await _cpu_async(w, procs, pg_dir, conns["registry"], own)
            w.poll_seconds.append(time.monotonic() - tick)
            if pushing.done() and pushing.exception():
                raise pushing.exception()  # type: ignore[misc]
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        await _cpu_async(w, procs, pg_dir, conns["registry"], own)
        w.bench_cpu = time.process_time() - cpu0
    finally:
        for c in conns.values():
            await c.close()
    return w


@dataclass
class Drafts:
    """Payments drafting the approvals once their notices end: (seconds, disbursements) samples
    from when the bureau's step began, when that step returned, and when all n were drafted."""

    samples: list[tuple[float, int]] = field(default_factory=list)
    ended: int = 0  # notices the step made payable
    ended_s: float = 0.0
    done_s: float = 0.0


async def watch_drafts(dsn: str, n: int, end: Callable[[], Coroutine[Any, Any, int]]) -> Drafts:
    """Run `end` (the bureau ends the notices) and poll payments' insert counter of disbursements
    once a second until n are drafted (one exact count confirms it)."""
    conn = await asyncpg.connect(dsn)
    try:
        base = int(await conn.fetchval(INSERTED, "disbursements"))  # before the first can be drafted
        start, d = time.monotonic(), Drafts()
        ending: asyncio.Task[int] = asyncio.create_task(end())
        while True:
            tick = time.monotonic()
            if ending.done() and not d.ended_s:
                d.ended, d.ended_s = ending.result(), tick - start  # raises if the step failed
            inserted = int(await conn.fetchval(INSERTED, "disbursements")) - base
            d.samples.append((tick - start, inserted))
            if inserted >= n and int(await conn.fetchval("SELECT count(*) FROM disbursements")) >= n:
                d.done_s = time.monotonic() - start
                await ending
                return d
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    finally:
        await conn.close()


def _service_pids(procs: dict[str, Any]) -> dict[int, str]:
    """Each service's process and its children (the registry's bulk worker) by pid."""
    out: dict[int, str] = {}
    for name, proc in procs.items():
        out[proc.pid] = name
        try:
            for child in psutil.Process(proc.pid).children(recursive=True):
                out[child.pid] = f"{name} worker"
        except psutil.Error:
            continue
    return out


async def _cpu_async(w: Watch, procs: dict[str, Any], pg_dir: Path | None, conn: asyncpg.Connection,
                     own: set[int], *, existed: bool = False) -> None:
    rows = await conn.fetch("SELECT pid, datname, backend_type FROM pg_stat_activity")
    _cpu_rows(w, procs, pg_dir, rows, own, existed=existed)


def _cpu_rows(w: Watch, procs: dict[str, Any], pg_dir: Path | None, rows: list[Any], own: set[int],
              *, existed: bool) -> None:
    for pid, name in _service_pids(procs).items():
        w.services.see(pid, name, existed=existed or name in procs)
    labels = {r["pid"]: _pg_label(r["datname"], r["backend_type"]) for r in rows if r["pid"] not in own}
    for pid in _postmaster_children(pg_dir):
        if pid not in own:
            w.postgres.see(pid, labels.get(pid, "other"), existed=existed)


def _pg_label(datname: str | None, backend_type: str) -> str:
    if datname and datname.startswith("skillsub_") and backend_type == "client backend":
        return datname.removeprefix("skillsub_")
    return "other"


def _postmaster_children(pg_dir: Path | None) -> list[int]:
    if pg_dir is None or not (pg_dir / "postmaster.pid").exists():
        return []
    try:
        pid = int((pg_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        return [pid] + [c.pid for c in psutil.Process(pid).children()]
    except (psutil.Error, ValueError):
        return []


def crossings(samples: list[tuple[float, int]], total: int, done_at: float) -> list[float]:
    """When the stage crossed each tenth of its final count (linear between samples); the last is
    when it was confirmed done."""
    out: list[float] = []
    points = [(0.0, 0), *samples, (done_at, total)]
    i = 1
    for k in range(1, 10):
        goal = k * total / 10
        while points[i][1] < goal:
            i += 1
        (t0, v0), (t1, v1) = points[i - 1], points[i]
        out.append(t0 + (goal - v0) / (v1 - v0) * (t1 - t0) if v1 > v0 else t1)
    return [*out, done_at]


BURST_S = 0.005  # a tenth crossed in less than this arrived as one burst: no rate to speak of


def tenth_rates(n: int, cross: list[float]) -> list[float]:
    """Certificates/s in each tenth, from the times each tenth was crossed (the first from 0); a
    tenth that arrived in one burst (a consumer batch) is inf, printed as such."""
    edges = [0.0, *cross]
    return [(n / 10) / (b - a) if b - a >= BURST_S else float("inf") for a, b in zip(edges, edges[1:], strict=False)]


def rate_cell(rate: float) -> str:
    return f"{'burst':>6}" if rate == float("inf") else f"{rate:>6,.0f}"


def last_over_first(rates: list[float]) -> str:
    """The last tenth's rate over the first's, when neither arrived as one burst."""
    finite = rates[0] != float("inf") and rates[-1] != float("inf")
    return f"{rates[-1] / rates[0]:.0%}" if finite else "n/a (burst)"
