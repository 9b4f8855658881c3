"""The platform as `skillsub up` runs it: each service its own process, a real embedded PostgreSQL
and a real embedded (memory-only) Tansu broker. REST in, progress and metrics out, and the faults
the backbone must survive: a consumer killed between its DB commit and its offset commit, every
process (broker included) killed with events in flight and PostgreSQL crashed, the broker alone
restarted, and the broker restarted by the supervisor's memory cap. Afterwards every certificate
is counted exactly once, decided once and drafted once; no dead letters.

Timings are printed (run with -s to see them); each test stays well under a minute.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.ids import resident_id_check_char
from shared.platform import Platform, free_ports
from shared.settings import SERVICES, Settings

N = 60  # certificates per test: enough for several consumer batches, small enough to stay fast
APPROVED_FEN = 70_000  # 四.2: 50% x (1,200 + 200) yuan, from the example Catalog row below
DISTRICT = "320612"
SOURCE = "unemployment_insurance_surplus"
LATHE = "6-18-01-01"
ENV = {"KAFKA_TOPIC_PARTITIONS": "2", "OUTBOX_POLL_SECONDS": "0.05", "SKILLSUB_ENV": "test"}
CATALOG = {"catalog_version": "e2e-2019", "standards": [
    {"occupation_code": LATHE, "occupation_name": "车工", "level": 4, "training_fen": 120000,
     "appraisal_fen": 20000, "valid_from": "2019-01-01"}]}


# --- synthetic people and certificates ---------------------------------------------------------

def resident_id(seq: int) -> str:
    first17 = f"11010519850101{seq:03d}"
    return first17 + resident_id_check_char(first17)


def employment(seq: int) -> dict[str, Any]:
    """四.2 needs a new hire with a contract of at least a year (dated fact from the feeder)."""
    return {"resident_id": resident_id(seq), "kind": "employment", "valid_from": "2020-02-15",
            "source": "employment_service",
            "attributes": {"employer_code": "91110000802100433B", "hire_date": "2020-02-15",
                           "contract_months": 36}}


def certificate(seq: int) -> dict[str, Any]:
    """A level-4 skill certificate; number: Y + 21 digits, character 16 the level."""
    return {"number": f"Y{seq:014d}4{seq:06d}", "kind": "skill_level", "resident_id": resident_id(seq),
            "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20",
            "issuer_code": "91350100M000100Y43", "issued_in_nantong": True, "district": DISTRICT,
            "training_kind": "pre_job", "training_start_date": "2020-03-01"}


# --- a REST client that gets a token when the platform asks for one ----------------------------

# Who does what, once the registry issues tokens (docs/auth.md: one demo client per role, secret
# "<client id>-secret", development and test environments only).
BUREAU, INSTITUTION, FEEDER = "demo-bureau", "demo-institution", "demo-feeder-employment_service"
FINANCE = "demo-finance"  # payments: allocations are 财政's
# Before tokens, payments named the acting official in its own headers (four-eyes needs a person).


@dataclass
class Api:
    """Talks to the running platform like its users would. When the registry offers the OAuth2
    token endpoint it gets a client-credentials token per demo client and sends it; without that
    endpoint (auth not deployed) it sends no credentials."""

    platform: Platform
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    _tokens: dict[str, str] = field(default_factory=dict)
    _auth: bool | None = None

    def headers(self, client_id: str) -> dict[str, str]:
        if self._auth is False:
            return {}
        if client_id not in self._tokens:
            r = self.http.post(f"{self.platform.url('registry')}/v1/oauth/token",
                               data={"grant_type": "client_credentials", "client_id": client_id,
                                     "client_secret": f"{client_id}-secret"})
            if r.status_code in (404, 405):  # no token endpoint: this platform runs without auth
                self._auth = False
                return {}
            assert r.status_code == 200, r.text
            self._auth, self._tokens[client_id] = True, r.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[client_id]}"}

    def _all_headers(self, service: str, client_id: str | None) -> dict[str, str]:
        if service == "payments":
            return self.headers(client_id or FINANCE)
        return self.headers(client_id or BUREAU)

    def post(self, service: str, path: str, body: dict[str, Any], as_: str | None = None) -> httpx.Response:
        return self.http.post(self.platform.url(service) + path, json=body,
                              headers=self._all_headers(service, as_))

    def get(self, service: str, path: str, as_: str | None = None) -> httpx.Response:
        return self.http.get(self.platform.url(service) + path, headers=self._all_headers(service, as_))

    def counted(self) -> int:
        try:
            return int(self.get("reporting", "/v1/progress").json()["person_times"])
        except (httpx.HTTPError, KeyError, ValueError):
            return -1


def eventually(probe: Callable[[], Any], platform: Platform, timeout: float = 45.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what}\n{log_tails(platform)}")
        time.sleep(0.1)


def log_tails(platform: Platform, lines: int = 15) -> str:
    out = []
    for name in SERVICES:
        path = platform.data_dir / f"{name}.log"
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {name}.log\n" + "\n".join(tail))
    return "\n".join(out)


class Timer:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: list[tuple[str, float]] = []

    def mark(self, what: str) -> None:
        self.marks.append((what, time.monotonic() - self.start))

    def report(self, test: str) -> None:
        print(f"\n[{test}] " + ", ".join(f"{w} {t:.1f}s" for w, t in self.marks))


# --- the platform ------------------------------------------------------------------------------

@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(data_dir=tmp_path / "data", ports=free_ports(), env=dict(ENV))
    p.start_servers()
    try:
        yield p
    finally:
        p.stop()


def seed(api: Api) -> None:
    """What the bureau does before certificates arrive: a Catalog version and money in the fund."""
    assert api.post("registry", "/v1/catalog/versions", CATALOG).status_code == 201
    r = api.post("payments", "/v1/allocations", {"reference": "CZ-E2E-001", "source": SOURCE,
                                                 "district": DISTRICT, "amount_fen": 100_000_000})
    assert r.status_code == 201, r.text
    for seq in range(N):
        r = api.post("registry", "/v1/facts", employment(seq), as_=FEEDER)
        assert r.status_code in (200, 201), r.text


def push_certificates(api: Api, seqs: range) -> dict[int, str]:
    """Push as an institution does; return the acknowledged certificate ids by sequence."""
    ids = {}
    for seq in seqs:
        r = api.post("registry", "/v1/certificates", certificate(seq), as_=INSTITUTION)
        assert r.status_code in (200, 201), r.text
        ids[seq] = r.json()["certificate_id"]
    return ids


class Pusher(threading.Thread):
    """Pushes certificates in the background and stops quietly when the platform goes away; the
    acknowledged ones are in `acked`. An institution would retry the rest: see `retry_unacked`."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(daemon=True)
        self.api = Api(platform)
        self.acked: dict[int, str] = {}
        self.failed_at: int | None = None

    def run(self) -> None:
        for seq in [s for s in range(N) if s not in self.acked]:
            try:
                r = self.api.post("registry", "/v1/certificates", certificate(seq), as_=INSTITUTION)
            except httpx.HTTPError:
                self.failed_at = seq
                return
            if r.status_code not in (200, 201):
                self.failed_at = seq
                return
            self.acked[seq] = r.json()["certificate_id"]

    def retry_unacked(self, api: Api) -> int:
        """Push again what was never acknowledged (some of it may have been committed anyway)."""
        again = [s for s in range(N) if s not in self.acked]
        for seq in again:
            self.acked.update(push_certificates(api, range(seq, seq + 1)))
        return len(again)


def wait_all_counted(api: Api, timeout: float = 45.0) -> None:
    """Reporting has counted every certificate and payments has reserved money for each."""
    eventually(lambda: api.counted() == N, api.platform, timeout, f"reporting counts {N}")
    eventually(lambda: reserved_fen(api) == N * APPROVED_FEN, api.platform, timeout, f"payments drafts {N}")


def reserved_fen(api: Api) -> int:
    funds = api.get("payments", "/v1/funds").json()
    return sum(f["reserved_fen"] for f in funds if f["district"] == DISTRICT)


# --- what must hold afterwards -----------------------------------------------------------------

def assert_each_certificate_decided_drafted_and_counted_once(api: Api, cert_ids: dict[int, str]) -> None:
    assert len(cert_ids) == N
    for cert_id in cert_ids.values():
        r = api.get("eligibility", f"/v1/certificates/{cert_id}/decisions?include_history=true")
        assert r.status_code == 200, r.text
        decisions = r.json()
        assert [(d["clause"], d["outcome"], d["current"]) for d in decisions] == [("四.2", "approved", True)]
        assert decisions[0]["amount_fen"] == APPROVED_FEN
        draft = api.get("payments", f"/v1/decisions/{decisions[0]['decision_id']}/disbursement")
        assert draft.status_code == 200 and draft.json()["amount_fen"] == APPROVED_FEN
    assert reserved_fen(api) == N * APPROVED_FEN  # reserved once per decision, never twice
    assert api.counted() == N
    assert f"skillsub_subsidised_person_times {float(N)}" in api.get("reporting", "/metrics").text
    rows = asyncio.run(table_counts(api.platform))
    assert rows == {"eligibility.decisions": N, "payments.disbursements": N,
                    **{f"{s}.dead_letter": 0 for s in SERVICES}}, rows


async def table_counts(platform: Platform) -> dict[str, int]:
    """Row counts straight from each service's own database: nothing doubled, nothing dead-lettered."""
    wanted = {"eligibility": ["decisions"], "payments": ["disbursements"]}
    return {f"{service}.{table}": await count_rows(platform, service, table)
            for service in SERVICES for table in [*wanted.get(service, []), "dead_letter"]}


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


# --- the tests ---------------------------------------------------------------------------------

def test_platform_end_to_end_certificates_pushed_over_rest_are_decided_drafted_and_counted(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    t.mark("servers+services up")
    api = Api(platform)
    seed(api)
    ids = push_certificates(api, range(N))
    t.mark(f"{N} certificates pushed")
    wait_all_counted(api)
    t.mark("all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, ids)
    assert push_certificates(api, range(3)) == {s: ids[s] for s in range(3)}  # pushing again: same answer
    t.report("end_to_end")


def test_platform_consumer_killed_between_db_commit_and_offset_commit_applies_each_event_once(
        platform: Platform) -> None:
    t = Timer()
    platform.start_services(("registry", "payments", "reporting"))
    api = Api(platform)
    seed(api)
    ids = push_certificates(api, range(N))
    t.mark("pushed before eligibility runs")
    platform.start_service("eligibility", {"SKILLSUB_FAULT_POINT": "consumer.after_db_commit"})
    proc = platform.procs["eligibility"]
    assert proc.wait(60) == 137  # died after committing its first batch, before committing offsets
    t.mark("eligibility killed at consumer.after_db_commit")
    decided_before_restart = asyncio.run(count_rows(platform, "eligibility", "decisions"))
    assert decided_before_restart > 0  # the batch's effects were committed before the crash
    del platform.procs["eligibility"]
    platform.start_services(("eligibility",))
    wait_all_counted(api)
    t.mark("restarted and all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, ids)
    duplicates = metric(api.get("eligibility", "/metrics").text, "skillsub_events_duplicate_total")
    assert duplicates > 0  # the uncommitted batch came again and the inbox absorbed it
    t.report(f"consumer_killed (decided before crash {decided_before_restart}, redeliveries absorbed {duplicates:.0f})")


async def count_rows(platform: Platform, service: str, table: str) -> int:
    dsn = Settings(database_url=platform.env["DATABASE_URL"]).database_url_for(service)
    conn = await asyncpg.connect(dsn.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


def wait_outbox_drained(platform: Platform, service: str, timeout: float = 30.0) -> None:
    """Every event the service staged has been published (its outbox has no unsent row)."""
    deadline = time.monotonic() + timeout
    while asyncio.run(count_rows(platform, service, "outbox WHERE sent_at IS NULL")) > 0:
        assert time.monotonic() < deadline, f"{service} outbox not drained after {timeout} s"
        time.sleep(0.1)


def start_stream(platform: Platform, api: Api, t: Timer) -> tuple[Pusher, int]:
    """Bring the platform mid-stream: a quarter of the certificates pushed and counted all the way
    through, then the rest pushed in the background; return once half are acknowledged (so the
    fault lands with events at every stage and the rest still to come), with reporting's count."""
    pusher = Pusher(platform)
    pusher.acked.update(push_certificates(api, range(N // 4)))
    eventually(lambda: api.counted() >= N // 4, platform, 30, "the first quarter counted")
    pusher.start()
    eventually(lambda: len(pusher.acked) >= N // 2, platform, 30, "half of the certificates pushed")
    counted = api.counted()
    t.mark(f"mid-stream: {len(pusher.acked)} pushed, {counted} counted")
    return pusher, counted


def test_platform_restart_with_events_in_flight_loses_nothing_and_doubles_nothing(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    pusher, counted = start_stream(platform, api, t)
    platform.kill_services()
    platform.restart_broker(kill=True)  # memory-only: every message and committed offset is gone
    platform.restart_postgres(crash=True)  # immediate shutdown, WAL recovery on start
    pusher.join(30)
    t.mark(f"killed everything ({len(pusher.acked)} acknowledged)")
    assert counted < N, "the stream had finished before the kill; nothing was in flight"
    platform.start_services()
    t.mark("restarted")
    retried = pusher.retry_unacked(api)
    wait_all_counted(api)
    t.mark(f"all counted ({retried} retried by the institution)")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    t.report("restart_in_flight")


def test_platform_broker_restart_mid_stream_relays_republish_and_nothing_is_lost(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    pusher, counted = start_stream(platform, api, t)
    assert counted < N
    platform.restart_broker(kill=True)
    t.mark("broker restarted")
    pusher.join(60)
    assert pusher.failed_at is None  # the registry keeps taking certificates without a broker
    wait_all_counted(api)
    t.mark("all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    assert "republishing" in (platform.data_dir / "registry.log").read_text()
    t.report("broker_restart")


def test_platform_supervisor_restarts_a_broker_over_its_memory_cap_and_nothing_is_lost(platform: Platform) -> None:
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    pusher, counted = start_stream(platform, api, t)
    assert platform.broker is not None and counted < N
    rss_before = platform.broker.rss_mb()
    platform.broker_max_mb = 1.0  # far below any real broker: the supervisor must act
    actions = platform.supervise_once()
    assert any("broker" in a for a in actions), actions
    rss_after = platform.broker.rss_mb()
    platform.broker_max_mb = 1024.0
    assert platform.supervise_once() == []  # under the cap: nothing more to do
    t.mark(f"broker restarted by the supervisor (RSS {rss_before:.0f} MB -> {rss_after:.0f} MB)")
    pusher.join(60)
    wait_all_counted(api)
    t.mark("all counted")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    t.report("memory_cap")


def test_platform_relay_killed_after_publishing_before_marking_sent_publishes_again_and_the_inbox_absorbs(
        platform: Platform) -> None:
    """The registry's relay dies between publishing a batch and marking it sent; on restart it
    publishes the batch again and eligibility's inbox takes each event once."""
    t = Timer()
    platform.start_services()
    api = Api(platform)
    seed(api)
    wait_outbox_drained(platform, "registry")
    # Restart the registry armed: the first batch it publishes now is certificates, and it dies
    # right after publishing it, before marking it sent.
    platform.stop_service("registry")
    platform.start_service("registry", {"SKILLSUB_FAULT_POINT": "relay.after_publish", "SKILLSUB_FAULT_AFTER": "1"})
    platform.wait_ready(("registry",))
    pusher = Pusher(platform)
    pusher.start()
    assert platform.procs["registry"].wait(60) == 137
    pusher.join(30)
    t.mark(f"registry relay killed after publishing ({len(pusher.acked)} acknowledged)")
    del platform.procs["registry"]
    platform.start_services(("registry",))
    retried = pusher.retry_unacked(api)
    wait_all_counted(api)
    t.mark(f"restarted and all counted ({retried} retried)")
    assert_each_certificate_decided_drafted_and_counted_once(api, pusher.acked)
    duplicates = metric(api.get("eligibility", "/metrics").text, "skillsub_events_duplicate_total")
    assert duplicates > 0  # the batch published twice reached eligibility twice
    t.report(f"relay_killed (duplicates absorbed {duplicates:.0f})")
