"""`skillsub bench`: certificates through REST as institutions push them, to reporting's count.

`--broker tansu|apache|both` picks the broker (both: one after the other in the same run, each on
a fresh platform, so the figures compare). Per broker: starts a fresh platform (embedded PostgreSQL,
the broker, four service processes), publishes the Catalog and the institution catalogue listing
the issuer (bench/notices.py), preloads one employment fact and one payment account per worker and
a fund allocation, then pushes N certificates and waits until every stage holds every one (payments:
received and held in its public notice). Then the bureau ends the notices on the platform's test
clock and the bench times payments drafting the N disbursements. Prints end-to-end certificates/s, when each stage
finished and its rate in each tenth of the run, each service's CPU seconds (its process and its
PostgreSQL backends), peak RSS per process, and - in the same run - a floor: the same four broker
hops and the same rows written by COPY with no logic, one process per hop as the services are
(bench/floor.py), printed beside the platform per stage, so the ratio means something on a noisy
machine. Stage progress is PostgreSQL's insert counter of each stage's table, read once a second
from each service's own database (bench/progress.py), never broker offsets nor a count over a
growing table; one exact count confirms each stage done.
Then the broker's peak RSS, and how long a killed consumer takes to get its partitions back with
and without static membership (bench/rejoin.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.floor import run_floor
from bench.notices import end_notices, listing, start_clock
from bench.progress import CONFIRM, crossings, last_over_first, rate_cell, tenth_rates, watch, watch_drafts
from services.registry.payee_rules import luhn_check_digit
from shared.clock import CLOCK_FILE_ENV
from shared.ids import resident_id_check_char
from shared.platform import Platform, free_ports
from shared.settings import SERVICES, Settings

LATHE = "6-18-01-01"
ISSUER = "52320613MJ0000003P"  # the training and evaluation institution of every bench certificate
STAGES = CONFIRM  # bench/load.py counts with them too


def person_id(i: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=i // 1000)
    first17 = f"320612{born:%Y%m%d}{i % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def certificate(i: int) -> dict[str, Any]:
    return {"number": f"Y{i:014d}4{i % 1000000:06d}", "kind": "skill_level", "resident_id": person_id(i),
            "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20",
            "issuer_code": ISSUER, "district": "320612",
            "training_kind": "pre_job", "training_start_date": "2020-03-01"}


def employment(i: int) -> dict[str, Any]:
    return {"resident_id": person_id(i), "kind": "employment", "valid_from": "2020-02-15",
            "source": "employment_service",
            "attributes": {"employer_code": "91320612MA1N00001G", "hire_date": "2020-02-15",
                           "contract_months": 36}}


class RssSampler(threading.Thread):
    def __init__(self, platform: Platform) -> None:
        super().__init__(daemon=True)
        self.platform, self.peak = platform, {s: 0.0 for s in SERVICES} | {"broker": 0.0}
        self.stop_flag = False
        self.first: dict[str, float] = {}  # the broker's RSS when sampling began: its growth is peak - first

    def run(self) -> None:
        while not self.stop_flag:
            pids = {s: p.pid for s, p in self.platform.procs.items()}
            for s, p in self.platform.procs.items():  # the registry's bulk worker, one process per service
                with contextlib.suppress(psutil.Error):
                    pids |= {f"{s} worker": c.pid for c in psutil.Process(p.pid).children(recursive=True)}
            if self.platform.broker and self.platform.broker.proc:
                pids["broker"] = self.platform.broker.proc.pid
            for name, pid in pids.items():
                try:
                    mb = psutil.Process(pid).memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak.get(name, 0.0), mb)
                self.first.setdefault(name, mb)
            time.sleep(0.5)


async def publish_reference_data(client: httpx.AsyncClient, reg: str, tag: str) -> None:
    """What the bureau publishes before certificates can be subsidised: the Catalog's standard for
    the lathe, level 4, and the institution catalogue listing the issuer (九, 十七) since 2019."""
    await publish_catalog(client, reg, {"catalog_version": f"{tag}-catalog", "standards": [
        {"occupation_code": LATHE, "occupation_name": "车工", "level": 4, "training_fen": 120000,
         "appraisal_fen": 20000, "valid_from": "2019-01-01"}]})
    await publish_catalog(client, reg, listing(ISSUER, LATHE, [4], f"{tag}-institutions"), "institutions")


async def publish_catalog(client: httpx.AsyncClient, reg: str, body: dict[str, Any],
                          what: str = "versions") -> None:
    """A Catalog version (`versions`) or an institution-catalogue version (`institutions`) as the
    bureau publishes it: one officer submits, a second approves."""
    submitted = await client.post(f"{reg}/v1/catalog/{what}", headers=await _token(client, reg, "demo-bureau"),
                                  json=body)
    submitted.raise_for_status()
    approved = await client.post(f"{reg}/v1/catalog/approvals/{submitted.json()['approval_id']}",
                                 headers=await _token(client, reg, "demo-bureau-2"))
    approved.raise_for_status()


async def _token(client: httpx.AsyncClient, base: str, role_client: str) -> dict[str, str]:
    """A bearer token when the registry has OAuth2 (demo clients in development); else no header."""
    try:
        r = await client.post(f"{base}/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": role_client, "client_secret": f"{role_client}-secret"})
    except httpx.HTTPError:
        return {}
    return {"Authorization": f"Bearer {r.json()['access_token']}"} if r.status_code == 200 else {}


class Tokens:
    """Bearer headers per demo client, fetched again before they expire (a run outlives a token)."""

    def __init__(self, client: httpx.AsyncClient, registry: str, max_age: float = 300.0) -> None:
        self.client, self.registry, self.max_age = client, registry, max_age
        self.cache: dict[str, tuple[float, dict[str, str]]] = {}
        self.lock = asyncio.Lock()  # one fetch at a time: 64 senders at once hit the token rate limit

    async def __call__(self, client_id: str) -> dict[str, str]:
        got = self.cache.get(client_id)
        if got is None or time.monotonic() - got[0] > self.max_age:
            async with self.lock:
                got = self.cache.get(client_id)
                if got is None or time.monotonic() - got[0] > self.max_age:
                    got = (time.monotonic(), await _token(self.client, self.registry, client_id))
                    self.cache[client_id] = got
        return got[1]


def card_account(i: int) -> dict[str, Any]:
    """A worker's social-security card account (19 digits, Luhn check digit)."""
    body = f"621700{i:012d}"
    return {"payee_kind": "worker", "resident_id": person_id(i), "account_kind": "social_security_card",
            "account_number": body + luhn_check_digit(body)}


async def _allocate(client: httpx.AsyncClient, reg: str, pay: str, amount_fen: int) -> None:
    """Maker-checker: one hr client drafts the allocation, another approves, finance releases."""
    drafter, approver = await _token(client, reg, "demo-hr-2"), await _token(client, reg, "demo-hr")
    releaser = await _token(client, reg, "demo-finance")
    r = await client.post(f"{pay}/v1/allocations", headers=drafter, json={
        "reference": f"BENCH-{uuid.uuid4().hex[:8]}", "source": "unemployment_insurance_surplus",
        "district": "320612", "amount_fen": amount_fen})
    item = r.json()["item_id"]
    for who, step in ((approver, "approve"), (releaser, "release")):
        r = await client.post(f"{pay}/v1/manual-items/{item}/{step}", headers=who)
        if r.status_code != 200:
            raise RuntimeError(f"allocation {step}: {r.status_code} {r.text[:300]}")


async def _push(client: httpx.AsyncClient, url: str, bodies: list[dict[str, Any]], concurrency: int,
                tokens: Tokens, client_id: str) -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            r = await client.post(url, json=body, headers=await tokens(client_id))
            if r.status_code >= 300:
                raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _push_bulk(client: httpx.AsyncClient, url: str, bodies: list[dict[str, Any]], batch: int,
                     concurrency: int, tokens: Tokens, client_id: str) -> None:
    """NDJSON files of `batch` lines, as an institution's or feeder's system uploads them."""
    chunks = [bodies[i:i + batch] for i in range(0, len(bodies), batch)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for c in chunks:
        queue.put_nowait(c)

    async def worker() -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            r = await client.post(url, content="\n".join(json.dumps(b) for b in chunk),
                                  headers=await tokens(client_id) | {"content-type": "application/x-ndjson"})
            bad = [line for line in r.text.splitlines() if '"error"' in line]
            if r.status_code >= 300 or bad:
                raise RuntimeError(f"{url}: {r.status_code} {(bad or [r.text])[0][:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_platform(args: argparse.Namespace, platform: Platform,
                       on_push: Callable[[], Awaitable[None]] | None = None) -> dict[str, Any]:
    """Preload, then push the certificates and watch; `on_push` runs just before the first is sent
    (--profile: pg_stat_statements reset and py-spy started there, so the preload is not counted)."""
    n = args.certificates
    settings = Settings(database_url=platform.env["DATABASE_URL"])
    dsns = {s: settings.database_url_for(s).replace("postgresql+asyncpg://", "postgresql://") for s in SERVICES}
    reg, pay = platform.url("registry"), platform.url("payments")
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        # Tokens fetched again before they expire: a large run's preload outlives one.
        tokens, feeder, institution = Tokens(client, reg), "demo-feeder-employment_service", "demo-institution"
        await publish_reference_data(client, reg, f"bench-{uuid.uuid4().hex[:6]}")
        await _allocate(client, reg, pay, n * 70000 + 1)
        t0 = time.perf_counter()
        # Workers are paid to their social-security cards: the employment service records them first.
        accounts = [card_account(i) for i in range(n)]
        if args.mode == "bulk":
            await _push_bulk(client, f"{reg}/v1/bulk/payee-accounts", accounts, args.batch, args.concurrency,
                             tokens, feeder)
            await _push_bulk(client, f"{reg}/v1/bulk/facts", [employment(i) for i in range(n)], args.batch,
                             args.concurrency, tokens, feeder)
        else:
            await _push(client, f"{reg}/v1/payee-accounts", accounts, 4 * args.concurrency, tokens, feeder)
            await _push(client, f"{reg}/v1/facts", [employment(i) for i in range(n)], args.concurrency, tokens, feeder)
        preload_s = time.perf_counter() - t0
        certs = [certificate(i) for i in range(n)]
        if on_push is not None:
            await on_push()
        pushing = asyncio.create_task(
            _push_bulk(client, f"{reg}/v1/bulk/certificates", certs, args.batch, args.concurrency, tokens, institution)
            if args.mode == "bulk"
            else _push(client, f"{reg}/v1/certificates", certs, args.concurrency, tokens, institution))
        pg_dir = platform.pg.data_dir if platform.pg else None
        watched = await watch(dsns, platform.procs, pg_dir, n, pushing)
        await pushing
        # Every approval is in its public notice (公示): end them as the bureau's daily step does,
        # then time payments drafting the lot.
        bureau = await tokens("demo-bureau")
        drafted = await watch_drafts(dsns["payments"], n, lambda: end_notices(
            client, platform.url("eligibility"), bureau, platform.env[CLOCK_FILE_ENV]))
    return {"preload_facts_s": preload_s, "stage_done_s": watched.done, "certificates": n, "watch": watched,
            "drafted": drafted}


def floor_stages(floor: dict[str, Any]) -> dict[str, list[float]]:
    """Each floor hop's tenth crossings, in seconds from when the first message was sent."""
    return {name: [t - floor["start"] for t in hop["crossings"]] for name, hop in floor["hops"].items()}


def main(args: argparse.Namespace) -> int:
    brokers = ["tansu", "apache"] if args.broker == "both" else [args.broker]
    results = {broker: run_on(args, broker) for broker in brokers}
    for broker, r in results.items():
        _report(broker, args.certificates, r)
    if len(results) > 1:
        _compare(results)
    return 0


def run_on(args: argparse.Namespace, broker: str) -> dict[str, Any]:
    from bench import profile, rejoin

    data_dir = Path(args.data_dir) / broker
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    clock = data_dir / "today"  # the services' test clock: the bench ends the public notices on it
    start_clock(clock)
    platform = Platform(data_dir=data_dir, ports=free_ports(), broker_kind=broker,
                        env={"SKILLSUB_LOG_LEVEL": "WARNING", "KAFKA_TOPIC_PARTITIONS": "4",
                             CLOCK_FILE_ENV: str(clock)})
    sampler = RssSampler(platform)
    try:
        platform.start_servers()
        if args.profile:
            profile.preload_pg_stat_statements(platform)
        platform.start_services()
        sampler.start()
        spies: list[Any] = []

        async def profiled() -> None:
            await profile.reset(platform)
            spies.extend(profile.start_py_spy(platform, Path(args.profile)))

        result = asyncio.run(run_platform(args, platform, profiled if args.profile else None))
        sampler.stop_flag = True
        if args.profile:
            profile.stop_py_spy(spies)
            result["statements"] = asyncio.run(profile.dump_statements(platform, Path(args.profile), args.certificates))
        pg = platform.env["DATABASE_URL"]
        result["floor"] = run_floor(args.certificates, platform.admin_bootstrap,
                                    pg.replace("postgresql+asyncpg://", "postgresql://"),
                                    json.dumps(certificate(0)).encode())
        result["rejoin"] = {static: [rejoin.measure(platform.admin_bootstrap, static=static).rejoin_s
                                     for _ in range(args.rejoin_repeat)] for static in (False, True)}
    finally:
        sampler.stop_flag = True
        platform.stop()
    result["peak_rss_mb"] = dict(sampler.peak)
    result["first_rss_mb"] = dict(sampler.first)
    return result


def _report(broker: str, n: int, result: dict[str, Any]) -> None:
    done, w, peak = result["stage_done_s"], result["watch"], result["peak_rss_mb"]
    floor = floor_stages(result["floor"])
    total, floor_total = done["reporting"], floor["reporting"][-1]
    print(f"\nSkillSub pipeline bench on {BROKER_NAMES[broker]}: {n} certificates through REST")
    print(f"  preload: {n} payment accounts and {n} employment facts via REST in {result['preload_facts_s']:.1f} s")
    print(f"  {'stage':<12} {'platform done':>14} {'certs/s':>8} {'floor done':>11} {'rows/s':>8} {'ratio':>6}")
    for stage in SERVICES:
        ps, fs = done[stage], floor[stage][-1]
        print(f"  {stage:<12} {ps:>12.2f} s {n / ps:>8,.0f} {fs:>9.2f} s {n / fs:>8,.0f} {fs / ps:>6.1%}")
    print(f"  end to end: {n / total:,.0f} certificates/s ({total:.2f} s); floor (one process per hop, COPY, "
          f"no logic): {n / floor_total:,.0f} rows/s ({floor_total:.2f} s)")
    print(f"  ratio platform / floor: {floor_total / total:.1%}")
    print("  certificates/s in each tenth of the run (platform | floor):")
    for stage in SERVICES:
        rates = tenth_rates(n, crossings(w.samples[stage], w.samples[stage][-1][1], done[stage]))
        frates = tenth_rates(n, floor[stage])
        print(f"    {stage:<12} " + " ".join(rate_cell(r) for r in rates)
              + f"  last/first {last_over_first(rates)} | floor last/first {last_over_first(frates)}")
        print(f"    {'  floor':<12} " + " ".join(rate_cell(r) for r in frates))
    cpu, pg = w.services.totals(), w.postgres.totals()
    print("  CPU seconds during the run (user + system), and per certificate:")
    for label in sorted(set(cpu) | set(pg)):
        for kind, table in (("process", cpu), ("postgres", pg)):
            if label in table:
                u, s_ = table[label]
                print(f"    {label:<18} {kind:<9} {u:7.1f} user {s_:6.1f} sys  {(u + s_) / n * 1e3:6.2f} ms/cert")
    for name, hop in result["floor"]["hops"].items():
        print(f"    floor {name:<12} process   {hop['cpu_user']:7.1f} user {hop['cpu_system']:6.1f} sys"
              f"  RSS {hop['rss_mb']:.0f} MB")
    for service, st in result.get("statements", {}).items():
        print(f"    {service:<18} statements {st['calls'] / n:6.2f}/cert, rows {st['rows'] / n:6.2f}/cert, "
              f"PostgreSQL execution {st['ms'] / n * 1e3:7.1f} us/cert (pg_stat_statements)")
    polls = w.poll_seconds
    print(f"  bench polls: {len(polls)}, wall mean {sum(polls) / max(1, len(polls)) * 1e3:.1f} ms, "
          f"max {max(polls, default=0) * 1e3:.1f} ms; the bench process used {w.bench_cpu:.1f} CPU s "
          "(pushing included)")
    d = result["drafted"]
    print(f"  then the bureau ended {d.ended} public notices (公示) in {d.ended_s:.2f} s, and payments drafted "
          f"{n} disbursements {d.done_s:.2f} s after the step began ({n / d.done_s:,.0f}/s)")
    print(f"  305,000 certificates at this rate: {305000 / (n / total):.0f} s")
    print("  peak RSS (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()))
    first = result["first_rss_mb"]
    print(f"  broker RSS grew {peak['broker'] - first.get('broker', 0.0):.0f} MB "
          f"({first.get('broker', 0.0):.0f} at the start)")
    for static, times in result["rejoin"].items():
        label = "static membership" if static else "dynamic membership"
        print(f"  consumer rejoin after a kill, {label}: " + ", ".join(f"{t:.2f} s" for t in times))


BROKER_NAMES = {"tansu": "the embedded Tansu broker", "apache": "Apache Kafka"}


def _compare(results: dict[str, dict[str, Any]]) -> None:
    print("\nBrokers compared (same run):")
    print(f"  {'broker':<8} {'certs/s':>8} {'floor rows/s':>13} {'broker RSS MB':>14} {'rejoin dynamic':>15} "
          f"{'rejoin static':>14}")
    for broker, r in results.items():
        n_per_s = r["certificates"] / r["stage_done_s"]["reporting"]
        floor = r["certificates"] / floor_stages(r["floor"])["reporting"][-1]
        dyn, sta = (min(r["rejoin"][k]) for k in (False, True))
        print(f"  {broker:<8} {n_per_s:>8,.0f} {floor:>13,.0f} {r['peak_rss_mb']['broker']:>14.0f} "
              f"{dyn:>13.2f} s {sta:>12.2f} s")
