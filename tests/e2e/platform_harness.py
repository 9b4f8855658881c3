"""What the end-to-end platform tests share: synthetic people and certificates, a REST client
that gets demo tokens per role, the `platform` fixture (real service processes, embedded
PostgreSQL, and the broker TEST_BROKER names: the embedded Tansu, or Apache Kafka with each
service connecting over SASL/SCRAM as its own principal under the production ACLs), stream helpers
and the checks that every certificate was decided, drafted and counted exactly once. Used by
test_platform_faults, test_chaos and test_storm.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bench.notices import start_clock
from shared.clock import CLOCK_FILE_ENV, nantong_today, set_test_clock
from shared.ids import resident_id_check_char
from shared.platform import Platform, free_ports
from shared.settings import SERVICES, Settings, normalise_async_url
from tests.accounts import card_number
from tests.conftest import TEST_BROKER

N = 60  # certificates per test: enough for several consumer batches, small enough to stay fast
APPROVED_FEN = 70_000  # 四.2: 50% x (1,200 + 200) yuan, from the example Catalog row below
DISTRICT = "320612"
SOURCE = "unemployment_insurance_surplus"
LATHE = "6-18-01-01"
# ELIGIBILITY_NOTICE_POLL_SECONDS: the end-of-notice loop looks each second (production: each minute).
ENV = {"KAFKA_TOPIC_PARTITIONS": "2", "OUTBOX_POLL_SECONDS": "0.05", "SKILLSUB_ENV": "test",
       "ELIGIBILITY_NOTICE_POLL_SECONDS": "1"}
INSTITUTION_CODE = "52320613MJ0000003P"
# The catalogue of training and evaluation institutions (九, 十七): the institution that trains and
# certifies the e2e people is listed for the lathe, level 4, since before their training started.
INSTITUTIONS = {"listing_version": "e2e-inst-2019", "entries": [
    {"institution_code": INSTITUTION_CODE, "valid_from": "2019-01-01", "credit_rating": "A",
     "occupations": [{"occupation_code": LATHE, "edition": "2015", "levels": [4]}]}]}
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
            "attributes": {"employer_code": "91320612MA1N00001G", "hire_date": "2020-02-15",
                           "contract_months": 36}}


def certificate(seq: int) -> dict[str, Any]:
    """A level-4 skill certificate; number: Y + 21 digits, character 16 the level."""
    return {"number": f"Y{seq:014d}4{seq:06d}", "kind": "skill_level", "resident_id": resident_id(seq),
            "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20",
            "issuer_code": INSTITUTION_CODE, "district": DISTRICT,
            "training_kind": "pre_job", "training_start_date": "2020-03-01"}


# --- a REST client that gets a token when the platform asks for one ----------------------------

# Who does what, once the registry issues tokens (docs/auth.md: one demo client per role, secret
# "<client id>-secret", development and test environments only).
BUREAU, INSTITUTION, FEEDER = "demo-bureau", "demo-institution", "demo-feeder-employment_service"
FINANCE = "demo-finance"  # payments: releases are 财政's
HR, HR_2 = "demo-hr", "demo-hr-2"  # payments: 人社 draft and approve (never the same client for one item)
AUDITOR = "demo-auditor"
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

    def post_ndjson(self, service: str, path: str, lines: list[dict[str, Any]],
                    as_: str | None = None) -> httpx.Response:
        """A bulk import: one JSON object per line (application/x-ndjson)."""
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        headers = {**self._all_headers(service, as_), "Content-Type": "application/x-ndjson"}
        return self.http.post(self.platform.url(service) + path, content=body, headers=headers)

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

@pytest.fixture(name="platform")
def platform_fixture(tmp_path: Path) -> Iterator[Platform]:
    # The services' test clock (shared/clock.py): no file yet, so the real day until end_notices moves it.
    env = dict(ENV) | {CLOCK_FILE_ENV: str(tmp_path / "today")}
    start_clock(env[CLOCK_FILE_ENV])
    p = Platform(data_dir=tmp_path / "data", ports=free_ports(), env=env, broker_kind=TEST_BROKER)
    p.start_servers()
    try:
        yield p
    finally:
        p.stop()


def allocate(api: Api, amount_fen: int, reference: str = "CZ-E2E-001", district: str = DISTRICT) -> None:
    """Money into the fund, maker-checker: one hr client drafts, another approves, finance releases."""
    r = api.post("payments", "/v1/allocations", {"reference": reference, "source": SOURCE, "district": district,
                                                 "amount_fen": amount_fen}, as_=HR_2)
    assert r.status_code == 201, r.text
    item = r.json()["item_id"]
    assert api.post("payments", f"/v1/manual-items/{item}/approve", {}, as_=HR).status_code == 200
    released = api.post("payments", f"/v1/manual-items/{item}/release", {}, as_=FINANCE)
    assert released.status_code == 200, released.text


def list_institutions(api: Api, body: dict[str, Any] | None = None) -> None:
    """The bureau publishes the institution catalogue (九, 十七), four eyes like a Catalog."""
    submitted = api.post("registry", "/v1/catalog/institutions", body or INSTITUTIONS)
    assert submitted.status_code == 202, submitted.text
    approved = api.post("registry", f"/v1/catalog/approvals/{submitted.json()['approval_id']}", {},
                        as_="demo-bureau-2")
    assert approved.status_code == 201, approved.text


def end_notices(api: Api) -> int:
    """Let the public notices (公示) run their course: the platform's test clock moves to the day
    after the last open notice's last day (never back), then the bureau's end-of-notice step makes
    every notice that is over payable (the loop, each second here, may take some first). Returns
    how many of the notices that were open have ended."""
    path = api.platform.env[CLOCK_FILE_ENV]
    notices = api.get("eligibility", "/v1/public/notices?limit=500").json()
    assert all(n["ends_on"] for n in notices), notices  # the official calendar knows the period's year
    if not notices:
        return 0
    after = max(dt.date.fromisoformat(n["ends_on"]) for n in notices) + dt.timedelta(days=1)
    set_test_clock(path, max(after, nantong_today_of(path)))
    while True:
        r = api.post("eligibility", "/v1/notices/end-due", {}, as_=BUREAU)
        assert r.status_code == 200, r.text
        if not r.json()["payable"]:
            break
    states = [api.get("eligibility", f"/v1/public/notices/{n['decision_id']}").json()["status"] for n in notices]
    return states.count("ended")


def nantong_today_of(path: str) -> dt.date:
    """The platform's day: its test clock's, or the real one while the file is not written."""
    p = Path(path)
    return dt.date.fromisoformat(p.read_text().strip()) if p.exists() else nantong_today()


def card_account(seq: int) -> dict[str, Any]:
    """A worker's social-security card account, as the employment service records it."""
    return {"payee_kind": "worker", "resident_id": resident_id(seq), "account_kind": "social_security_card",
            "account_number": card_number(seq)}


def seed(api: Api, n: int = N, *, bulk: bool = False) -> None:
    """What the bureau does before certificates arrive: a Catalog version and money in the fund;
    then the employment facts of `n` people (one request each, or one NDJSON request when `bulk`),
    and their social-security card accounts (the employment service)."""
    submitted = api.post("registry", "/v1/catalog/versions", CATALOG)
    assert submitted.status_code == 202, submitted.text  # four eyes: a second bureau officer approves
    approved = api.post("registry", f"/v1/catalog/approvals/{submitted.json()['approval_id']}", {},
                        as_="demo-bureau-2")
    assert approved.status_code == 201, approved.text
    list_institutions(api)
    allocate(api, 100_000_000)
    for seq in range(n):
        r = api.post("registry", "/v1/payee-accounts", card_account(seq), as_=FEEDER)
        assert r.status_code in (200, 201), r.text
    if bulk:
        r = api.post_ndjson("registry", "/v1/bulk/facts", [employment(s) for s in range(n)], as_=FEEDER)
        assert r.headers["X-Lines-Error"] == "0", r.text
        return
    for seq in range(n):
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

    def __init__(self, platform: Platform, n: int = N) -> None:
        super().__init__(daemon=True)
        self.n = n
        self.api = Api(platform)
        self.acked: dict[int, str] = {}
        self.failed_at: int | None = None

    def run(self) -> None:
        for seq in [s for s in range(self.n) if s not in self.acked]:
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
        again = [s for s in range(self.n) if s not in self.acked]
        for seq in again:
            self.acked.update(push_certificates(api, range(seq, seq + 1)))
        return len(again)


def wait_all_counted(api: Api, timeout: float = 45.0, n: int = N) -> None:
    """Reporting has counted every certificate; none is drafted while its public notice runs; once
    the notices are over, payments has reserved money for each."""
    eventually(lambda: api.counted() == n, api.platform, timeout, f"reporting counts {n}")
    assert reserved_fen(api) == 0, "drafted during the public notice"
    eventually(lambda: len(api.get("eligibility", "/v1/public/notices?limit=500").json()) == n, api.platform,
               timeout, f"{n} approvals in notice")
    end_notices(api)
    eventually(lambda: reserved_fen(api) == n * APPROVED_FEN, api.platform, timeout, f"payments drafts {n}")


def reserved_fen(api: Api) -> int:
    funds = api.get("payments", "/v1/funds", as_=FINANCE).json()  # live money: staff only
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


def dsn_for(platform: Platform, service: str) -> str:
    """The service's database: its own <SERVICE>_DATABASE_URL if the platform sets one."""
    own = platform.env.get(f"{service.upper()}_DATABASE_URL")
    dsn = normalise_async_url(own) if own else \
        Settings(database_url=platform.env["DATABASE_URL"]).database_url_for(service)
    return dsn.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _fetch(platform: Platform, service: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn_for(platform, service))
    try:
        return [tuple(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def sql(platform: Platform, service: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows straight from a service's own database (what the service believes, not its API)."""
    return asyncio.run(_fetch(platform, service, query, *args))


def scalar(platform: Platform, service: str, query: str, *args: Any) -> Any:
    return sql(platform, service, query, *args)[0][0]


def lag_samples(text: str) -> dict[str, float]:
    """skillsub_consumer_lag per `topic/partition` from a /metrics page."""
    out = {}
    for line in text.splitlines():
        if line.startswith("skillsub_consumer_lag{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.removeprefix("skillsub_consumer_lag")] = float(value)
    return out


# --- money out, re-decisions and revocations, and the ledger's own check -----------------------

SHORTAGE_FEN = 140_000  # 四.2 once 车工 is on the 2020 market-shortage list: 100% x (1,200 + 200) yuan
SHORTAGE_2020 = ("# version: e2e-shortage-2020.1\n# year: 2020\noccupation_code,edition,name_zh\n"
                 f"{LATHE},2015,车工\n")


def publish_shortage_list(api: Api) -> None:
    """The bureau puts 车工 on 2020's shortage list: eligibility re-decides every lathe certificate."""
    r = api.http.post(api.platform.url("registry") + "/v1/catalog/shortage-lists", content=SHORTAGE_2020,
                      headers=api.headers(BUREAU) | {"Content-Type": "text/csv"})
    if r.status_code == 409:  # already published (a retried request)
        return
    assert r.status_code == 202, r.text  # four eyes: a second bureau officer approves
    approved = api.post("registry", f"/v1/catalog/approvals/{r.json()['approval_id']}", {}, as_="demo-bureau-2")
    assert approved.status_code == 201, approved.text


def revoke(api: Api, certificate_id: str) -> None:
    r = api.post("registry", f"/v1/certificates/{certificate_id}/revocations",
                 {"revoked_on": "2020-09-01", "reason": "证书核查不实 (e2e)"}, as_=INSTITUTION)
    assert r.status_code == 200, r.text


def release_all(api: Api) -> list[dict[str, str]]:
    """hr batches every reserved draft, another hr approves, finance releases: the payment file's rows
    (money in flight until a statement answers)."""
    r = api.post("payments", "/v1/batches", {}, as_=HR)
    if r.status_code == 409:  # nothing reserved
        return []
    assert r.status_code == 201, r.text
    bid = r.json()["batch_id"]
    assert api.post("payments", f"/v1/batches/{bid}/approve", {}, as_=HR_2).status_code == 200
    released = api.post("payments", f"/v1/batches/{bid}/release", {}, as_=FINANCE)
    assert released.status_code == 200, released.text
    import csv
    import io

    text = api.get("payments", f"/v1/batches/{bid}/payment-file", as_=FINANCE).text
    return list(csv.DictReader(io.StringIO(text)))


def answer(api: Api, rows: list[dict[str, str]], status: str = "paid") -> None:
    """The treasury's statement for these payments."""
    if not rows:
        return
    body = "payment_ref,amount_fen,status\n" + "".join(f"{r['payment_ref']},{r['amount_fen']},{status}\n"
                                                       for r in rows)
    r = api.post("payments", "/v1/statements", {"reference": f"ST-{rows[0]['payment_ref'][:8]}-{len(rows)}",
                                                "csv": body}, as_=FINANCE)
    assert r.status_code == 200, r.text


def pay_out(api: Api, rounds: int = 8) -> None:
    """Release and pay whatever is reserved, round after round (a successor is drafted once its
    predecessor's payment is answered), until nothing is left to pay."""
    for _ in range(rounds):
        rows = release_all(api)
        if not rows and not _unsettled(api):
            return
        answer(api, rows)
        time.sleep(0.2)
    raise AssertionError(f"money still unsettled after {rounds} rounds: {_unsettled(api)}")


def _unsettled(api: Api) -> int:
    return sum(f["reserved_fen"] for f in api.get("payments", "/v1/funds", as_=FINANCE).json())


def ledger_verified(api: Api, settled_triggers: int | None = None) -> dict[str, Any]:
    """skillsub verify-ledger's report (as the auditor reads it): no drift, and Σ paid − Σ recovered
    = the standing decision for every trigger payments has a decision for (`settled_triggers` of
    them, when the caller knows), none left pending."""
    r = api.get("payments", "/v1/ledger/verification", as_=AUDITOR)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["drift"] == [], report["drift"][:5]
    known = scalar(api.platform, "payments", "SELECT count(DISTINCT trigger_id) FROM received_decisions")
    assert (report["checked"]["triggers_settled"], report["checked"]["triggers_pending"]) == (known, 0), \
        report["checked"]
    assert settled_triggers is None or known == settled_triggers, (known, settled_triggers)
    return dict(report)
