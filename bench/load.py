"""Sustained load: hold a rate of certificates/s through the registry's REST API for a duration.

    python -m bench.load --rate 1000 --seconds 1800      # the reference run (30 minutes)
    python -m bench.load --rate 200 --seconds 20         # a short run

Starts a fresh platform (as `skillsub up`), preloads Catalog, employment facts and a fund, then
sends certificates open-loop at the given rate (requests are issued on schedule whatever the
latency; concurrency is capped), and every second samples how far each downstream stage is behind
(pushed minus counted, read from each service's database) and each process's RSS. Writes
artifacts/load-<timestamp>.md with error count, p50/p95/p99 latency, and an SVG plot of lag and RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench.pipeline import STAGES, Tokens, _token, certificate, employment, publish_reference_data
from shared.platform import Platform, free_ports
from shared.settings import SERVICES, Settings

# Reporting has caught up with a certificate once it holds its decision, whatever the outcome.
LOAD_STAGES = {"reporting": "SELECT count(DISTINCT trigger_id) FROM decision_facts WHERE current"}


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    acked: int = 0  # certificates the registry accepted (what reporting must end up counting)
    elapsed: float = 0.0  # from the first due certificate to the last answer
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds (user + system) per process during the drive
    idle: dict[str, float] = field(default_factory=dict)  # CPU seconds per second per process before it


async def preload(client: httpx.AsyncClient, platform: Platform, n: int) -> dict[str, str]:
    reg = platform.url("registry")
    feeder = await _token(client, reg, "demo-feeder-employment_service")
    await publish_reference_data(client, reg, "load-1")
    for first in range(0, n, 5000):  # employment facts for the first n workers, in 5,000-line files
        body = "\n".join(json.dumps(employment(i)) for i in range(first, min(n, first + 5000)))
        r = await client.post(f"{reg}/v1/bulk/facts", content=body,
                              headers=feeder | {"content-type": "application/x-ndjson"})
        r.raise_for_status()
    return await _token(client, reg, "demo-institution")


async def drive(client: httpx.AsyncClient, base: str, tokens: Tokens, args: argparse.Namespace,
                run: Run) -> None:
    """Open loop: certificate i is due at i / rate seconds. With --bulk N they go N at a time as one
    NDJSON upload (POST /v1/bulk/certificates), as an institution's system sends them, each upload
    preceded (past the preloaded workers) by the employment feeder's upload of those workers' hires;
    only the certificate uploads are timed, from the moment each was due (so time spent queued
    behind a slow server counts). When more than --backlog-seconds of certificates are already
    waiting, the due one is not sent and counts as an `overload` error: the rate was not held."""
    sem = asyncio.Semaphore(args.concurrency)
    start = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    size = max(1, args.bulk)
    max_waiting = max(args.concurrency, int(args.rate * args.backlog_seconds / size))

    def failed(kind: str, n: int) -> None:
        run.errors[kind] = run.errors.get(kind, 0) + n

    async def send(first: int) -> None:
        due = start + first / args.rate
        async with sem:
            if args.bulk and first + size > args.preload:  # the feeder reports these hires first
                feeder = await tokens("demo-feeder-employment_service")
                await client.post(f"{base}/v1/bulk/facts", headers=feeder | {"content-type": "application/x-ndjson"},
                                  content="\n".join(json.dumps(employment(i)) for i in range(first, first + size)))
            headers = await tokens("demo-institution")
            try:
                if args.bulk:
                    body = "\n".join(json.dumps(certificate(i)) for i in range(first, first + size))
                    r = await client.post(f"{base}/v1/bulk/certificates", content=body,
                                          headers=headers | {"content-type": "application/x-ndjson"})
                    bad = sum('"error"' in line for line in r.text.splitlines()) if r.status_code < 300 else size
                    if bad:
                        failed(str(r.status_code), bad)
                    run.acked += size - bad
                else:
                    r = await client.post(f"{base}/v1/certificates", json=certificate(first), headers=headers)
                    if r.status_code >= 300:
                        failed(str(r.status_code), 1)
                    else:
                        run.acked += 1
            except httpx.HTTPError as exc:
                failed(type(exc).__name__, size)
            run.latencies.append(time.perf_counter() - due)

    i = 0
    while (now := time.perf_counter() - start) < args.seconds:
        while i + size <= int(now * args.rate) + (size if args.bulk else 0) and i / args.rate <= now:
            if len(tasks) >= max_waiting:
                failed("overload", size)
            else:
                task = asyncio.create_task(send(i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            i += size
        run.sent = i
        await asyncio.sleep(0.005)
    run.sent = i
    await asyncio.gather(*tasks)


async def sample(platform: Platform, run: Run, dsns: dict[str, str], stop: asyncio.Event) -> None:
    conns = {s: await asyncpg.connect(dsns[s]) for s in SERVICES}
    start = time.perf_counter()
    try:
        while not stop.is_set():
            row: dict[str, Any] = {"t": time.perf_counter() - start, "sent": run.acked}
            for s in SERVICES:
                row[f"{s}_count"] = int(await conns[s].fetchval(LOAD_STAGES.get(s, STAGES[s])))
                try:
                    row[f"{s}_rss"] = psutil.Process(platform.procs[s].pid).memory_info().rss / 2**20
                except (psutil.Error, KeyError):
                    row[f"{s}_rss"] = 0.0
            broker = platform.broker.proc if platform.broker else None
            row["broker_rss"] = psutil.Process(broker.pid).memory_info().rss / 2**20 if broker else 0.0
            run.samples.append(row)
            await asyncio.sleep(1.0)
    finally:
        for c in conns.values():
            await c.close()


async def main_async(args: argparse.Namespace, platform: Platform, run: Run) -> Run:
    settings = Settings(database_url=platform.env["DATABASE_URL"])
    dsns = {s: settings.database_url_for(s).replace("postgresql+asyncpg://", "postgresql://") for s in SERVICES}
    total = int(args.rate * args.seconds) + max(1, args.bulk)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:  # preload uploads on a loaded machine
        await preload(client, platform, min(total, args.preload))
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(platform, run, dsns, stop))
        # What each process burns with no certificates (relays, polls, checkpoints), per second:
        # at a low accepted rate it would otherwise dominate the CPU charged per certificate.
        idle_from, idle_start = cpu_seconds(platform), time.perf_counter()
        await asyncio.sleep(args.idle_seconds)
        idle_to = cpu_seconds(platform)
        run.idle = {k: (v - idle_from.get(k, 0.0)) / (time.perf_counter() - idle_start) for k, v in idle_to.items()}
        before, started = cpu_seconds(platform), time.perf_counter()
        await drive(client, platform.url("registry"), Tokens(client, platform.url("registry")), args, run)
        run.elapsed = time.perf_counter() - started
        run.cpu = {k: v - before.get(k, 0.0) for k, v in cpu_seconds(platform).items()}
        deadline = time.perf_counter() + args.drain_seconds
        while time.perf_counter() < deadline:
            if run.samples and run.samples[-1]["reporting_count"] >= run.acked:
                break
            await asyncio.sleep(1)
        stop.set()
        await sampler
    return run


def cpu_seconds(platform: Platform) -> dict[str, float]:
    """User + system CPU seconds used so far by each service process and by this one (the client)."""
    procs = {s: p.pid for s, p in platform.procs.items()} | {"client": None}
    out = {}
    for name, pid in procs.items():
        try:
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            continue
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def svg(run: Run) -> str:
    width, height, pad = 900, 360, 50
    t_max = max((s["t"] for s in run.samples), default=1) or 1
    lag = [(s["t"], max(0, s["sent"] - s["reporting_count"])) for s in run.samples]
    lag_max = max((v for _, v in lag), default=1) or 1
    rss_series = {s: [(x["t"], x[f"{s}_rss"]) for x in run.samples] for s in SERVICES}
    rss_max = max((v for pts in rss_series.values() for _, v in pts), default=1) or 1

    def path(points: list[tuple[float, float]], top: float) -> str:
        return " ".join(f"{pad + t / t_max * (width - 2 * pad):.1f},{height - pad - v / top * (height - 2 * pad):.1f}"
                        for t, v in points)

    colours = {"registry": "#1f77b4", "eligibility": "#2ca02c", "payments": "#9467bd", "reporting": "#ff7f0e"}
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{pad}" y="20">lag (certificates pushed, not yet counted by reporting; max {lag_max}) — red; '
             f'RSS per service (max {rss_max:.0f} MB) — other colours; x: {t_max:.0f} s</text>',
             f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{path(lag, lag_max)}"/>']
    for s, pts in rss_series.items():
        lines.append(f'<polyline fill="none" stroke="{colours[s]}" points="{path(pts, rss_max)}"/>')
    lines.append("</svg>")
    return "\n".join(lines)


def stage_table(run: Run, every: float = 60.0) -> list[str]:
    """Once a minute: how many certificates each stage had taken in, and each service's RSS."""
    names = {"registry": "registry: certificates", "eligibility": "eligibility: decided",
             "payments": "payments: drafts", "reporting": "reporting: decisions counted"}
    head = ["| t (s) | accepted | " + " | ".join(names[s] for s in SERVICES) + " | "
            + " | ".join(f"{s} MB" for s in SERVICES) + " |",
            "|" + "---|" * (2 + 2 * len(SERVICES))]
    rows, next_t = [], 0.0
    for i, x in enumerate(run.samples):
        if x["t"] >= next_t or i == len(run.samples) - 1:
            rows.append(f"| {x['t']:.0f} | {x['sent']} | " + " | ".join(str(x[f"{s}_count"]) for s in SERVICES)
                        + " | " + " | ".join(f"{x[f'{s}_rss']:.0f}" for s in SERVICES) + " |")
            next_t = x["t"] + every
    return head + rows if rows else []


def samples_csv(run: Run) -> str:
    if not run.samples:
        return ""
    keys = list(run.samples[0])
    return "\n".join([",".join(keys)] + [",".join(f"{x[k]:.2f}" if isinstance(x[k], float) else str(x[k])
                                                    for k in keys) for x in run.samples]) + "\n"


def write_report(args: argparse.Namespace, run: Run) -> Path:
    out = Path("artifacts")
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"load-{stamp}.svg").write_text(svg(run))
    lat = [x * 1000 for x in run.latencies]
    peak = {s: max((x[f"{s}_rss"] for x in run.samples), default=0.0) for s in SERVICES}
    max_lag = max((max(0, x["sent"] - x["reporting_count"]) for x in run.samples), default=0)
    last = run.samples[-1] if run.samples else {}
    achieved = run.acked / run.elapsed if run.elapsed else 0.0
    per_cert = ", ".join(f"{k} {v / run.acked * 1000:.2f}" for k, v in run.cpu.items()) if run.acked else "-"
    marginal = ", ".join(f"{k} {(v - run.idle.get(k, 0.0) * run.elapsed) / run.acked * 1000:.2f}"
                         for k, v in run.cpu.items()) if run.acked else "-"
    text = "\n".join([
        f"# Load run {stamp}", "",
        f"- target {args.rate:.0f} certificates/s for {args.seconds:.0f} s; accepted {achieved:.0f}/s "
        f"({run.acked} of {run.sent} due in {run.elapsed:.1f} s to the last answer, in {len(run.latencies)} "
        f"requests{f' of {args.bulk}' if args.bulk else ''})",
        f"- CPU ms per accepted certificate during the drive (user + system): {per_cert}",
        f"- the same less each process's idle CPU rate ({args.idle_seconds:.0f} s measured before the drive): "
        f"{marginal}",
        f"- errors: {sum(run.errors.values())} {dict(run.errors) if run.errors else ''}",
        f"- latency ms (from when each was due): p50 {pct(lat, .5):.1f}, p95 {pct(lat, .95):.1f}, "
        f"p99 {pct(lat, .99):.1f}, mean {statistics.fmean(lat) if lat else 0:.1f}",
        f"- max lag (pushed − counted by reporting): {max_lag}; at the end: "
        f"{max(0, last.get('sent', 0) - last.get('reporting_count', 0))}",
        "- peak RSS MB: " + ", ".join(f"{s} {v:.0f}" for s, v in peak.items())
        + f"; embedded broker {max((x['broker_rss'] for x in run.samples), default=0.0):.0f} (holds every message)",
        f"- accepted by the registry: {run.acked}; counted by reporting at the end: "
        f"{last.get('reporting_count', 0)}",
        "", f"![lag and RSS](load-{stamp}.svg)", "", *stage_table(run), ""])
    (out / f"load-{stamp}.csv").write_text(samples_csv(run))
    report = out / f"load-{stamp}.md"
    report.write_text(text)
    print(text)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backlog-seconds", type=float, default=5.0,
                        help="most seconds of certificates left waiting before due ones count as overload")
    parser.add_argument("--drain-seconds", type=float, default=120)
    parser.add_argument("--idle-seconds", type=float, default=10,
                        help="CPU of each process measured this long with no load first")
    parser.add_argument("--data-dir", default=".data/load")
    parser.add_argument("--preload", type=int, default=50000,
                        help="workers given an employment fact first (the rest are decided as rejections)")
    parser.add_argument("--bulk", type=int, default=0,
                        help="send certificates N at a time as NDJSON uploads (0: one POST each)")
    return parser.parse_args(argv)


def run_load(args: argparse.Namespace) -> tuple[Run, Path]:
    """A fresh platform, the load, the report: (what happened, where the report is)."""
    shutil.rmtree(args.data_dir, ignore_errors=True)
    platform = Platform(data_dir=Path(args.data_dir), ports=free_ports(),
                        env={"SKILLSUB_LOG_LEVEL": "WARNING"})
    run = Run()
    # A run stopped early (Ctrl-C, SIGTERM from a time limit) still writes what it measured.
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        platform.start_servers()
        platform.start_services()
        asyncio.run(main_async(args, platform, run))
    except KeyboardInterrupt:
        print("load run stopped early; reporting what was measured", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        platform.stop()
    return run, write_report(args, run)


def main() -> int:
    run, _ = run_load(parse_args())
    return 1 if run.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
