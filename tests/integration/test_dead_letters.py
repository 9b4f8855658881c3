"""Dead letters as operators handle them, on running services over real HTTP, a real broker and a
real PostgreSQL: payments dead-letters a decision its funding file has no route for (四.5b decided
before the route's first day), the operator lists and shows it (`skillsub dead-letters`), the
bureau fixes the parameters and replays it: it is drafted exactly once, whatever is replayed or
redelivered after. A discard needs a reason and lands in the audit log with the person."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
import yaml

from services.payments.funding import DEFAULT_PATH, parse_funding
from services.payments.main import create_app as payments_app
from services.registry.main import create_app as registry_app
from shared.cli import main as skillsub
from shared.embedded import free_port
from shared.events import SubsidyDecidedV2, new_envelope
from shared.kafka import make_producer
from shared.settings import Settings
from tests.accounts import card_number
from tests.integration.registry.registry_helpers import resident_id

DISTRICT = "320612"
SOURCE = "local_talent"  # 四.5b is paid from local talent funds (services/payments/params/funding.yaml)
pytestmark = pytest.mark.usefixtures("drop_test_databases")


@dataclass
class Running:
    settings: Settings
    urls: dict[str, str]
    runtimes: dict[str, Any]
    http: httpx.Client

    def token(self, client_id: str) -> dict[str, str]:
        r = self.http.post(f"{self.urls['registry']}/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": f"{client_id}-secret"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = skillsub(["dead-letters", *args, "--url", self.urls["payments"],
                         "--registry-url", self.urls["registry"]])
        out = capsys.readouterr()
        return code, out.out, out.err

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        dsn = self.settings.database_url_for("payments").replace("postgresql+asyncpg://", "postgresql://", 1)

        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(dsn)
            try:
                return [tuple(r) for r in await conn.fetch(query, *args)]
            finally:
                await conn.close()
        return asyncio.run(fetch())


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    while not server.started:  # lifespan done: migrations applied, consumer and relay running
        assert thread.is_alive() and time.monotonic() < deadline, "did not start"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def running(settings: Settings) -> Iterator[Running]:
    s = settings.model_copy(update={"consumer_max_retries": 1})
    apps = {"registry": registry_app(s), "payments": payments_app(s)}
    served = {name: _serve(app) for name, app in apps.items()}
    try:
        with httpx.Client(timeout=30) as http:
            yield Running(s, {n: v[2] for n, v in served.items()}, {n: a.state.runtime for n, a in apps.items()},
                          http)
    finally:
        for server, thread, _ in served.values():
            server.should_exit = True
            thread.join(timeout=30)


def degree_reward(person: str) -> dict[str, Any]:
    """四.5b as eligibility decides it, on a day before payments' 四.5b route begins (2019-07-01)."""
    return SubsidyDecidedV2(
        decision_id=uuid.uuid4(), person_key=person, trigger_id=uuid.uuid4(), trigger_kind="certificate",
        clause="四.5b", outcome="approved", amount_fen=300_000, clauses_cited=["四.5b"],
        decided_on=dt.date(2019, 3, 1), year=2019, district=DISTRICT, payee_kind="worker",
        payee_ref=person).model_dump(mode="json")


def card_on_record(r: Running, seq: int) -> str:
    """The employment service records a worker's social-security card in the registry and payments
    receives it; the worker's person key."""
    resp = r.http.post(f"{r.urls['registry']}/v1/payee-accounts", headers=r.token("demo-feeder-employment_service"),
                       json={"payee_kind": "worker", "resident_id": resident_id(seq),
                             "account_kind": "social_security_card", "account_number": card_number(seq)})
    assert resp.status_code == 201, resp.text
    person = str(resp.json()["payee_ref"])
    deadline = time.monotonic() + 60
    while not r.sql("SELECT count(*) FROM payee_accounts WHERE payee_ref = $1", person)[0][0]:
        assert time.monotonic() < deadline, "payments never received the account"
        time.sleep(0.2)
    return person


def publish(r: Running, *messages: bytes) -> None:
    async def send() -> None:
        producer = make_producer(r.settings.kafka_bootstrap_servers or "")
        await producer.start()
        try:
            for m in messages:
                await producer.send_and_wait(r.settings.kafka_topic_prefix + "eligibility.events", key=b"pk", value=m)
        finally:
            await producer.stop()
    asyncio.run(send())


def decided(payload: dict[str, Any]) -> bytes:
    env = new_envelope(SubsidyDecidedV2.model_validate(payload), key=payload["person_key"], producer="eligibility",
                       event_id=uuid.UUID(payload["decision_id"]))
    return env.model_dump_json().encode()


def wait_dead_letters(r: Running, n: int) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + 60
    while True:
        rows = r.sql("SELECT id, status, claimed FROM dead_letter ORDER BY id")
        if len(rows) >= n:
            return rows
        assert time.monotonic() < deadline, f"{len(rows)} dead letters, expected {n}"
        time.sleep(0.2)


def allocate(r: Running) -> None:
    """Money into the fund, maker-checker: one hr client drafts, another approves, finance releases."""
    resp = r.http.post(f"{r.urls['payments']}/v1/allocations", headers=r.token("demo-hr-2"), json={
        "reference": f"CZ-DL-{uuid.uuid4().hex[:6]}", "source": SOURCE, "district": DISTRICT,
        "amount_fen": 10_000_000})
    assert resp.status_code == 201, resp.text
    item = f"{r.urls['payments']}/v1/manual-items/{resp.json()['item_id']}"
    assert r.http.post(f"{item}/approve", headers=r.token("demo-hr")).status_code == 200
    released = r.http.post(f"{item}/release", headers=r.token("demo-finance"))
    assert released.status_code == 200, released.text


def fund_the_gap(r: Running) -> None:
    """The bureau's corrected funding file, a new version with the 四.5b route from 2019-01-01,
    loaded as payments loads its file at start."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    fixed = text.replace('{clause: "四.5b", valid_from: 2019-07-01', '{clause: "四.5b", valid_from: 2019-01-01')
    assert fixed != text
    data = yaml.safe_load(fixed)
    data["version"] += ".fixed"
    r.runtimes["payments"].state["funding"] = parse_funding(data)


def drafts_for(r: Running, decision_id: str) -> int:
    return r.sql("SELECT count(*) FROM disbursements WHERE decision_id = $1", uuid.UUID(decision_id))[0][0]


def test_a_dead_lettered_decision_is_replayed_once_after_the_fix_and_never_again(
        running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    r = running
    allocate(r)
    payload = degree_reward(card_on_record(r, 1))
    publish(r, decided(payload))
    [(dead_id, status, claimed)] = wait_dead_letters(r, 1)
    assert (status, claimed) == ("open", True) and drafts_for(r, payload["decision_id"]) == 0

    code, out, err = r.cli(capsys, "list", "payments")
    assert code == 0, err
    assert code == 0 and "eligibility.subsidy.decided" in out and "no funding route for clause 四.5b" in out
    code, out, _ = r.cli(capsys, "show", "payments", str(dead_id))
    shown = json.loads(out)
    assert code == 0 and json.loads(shown["envelope"])["payload"]["decision_id"] == payload["decision_id"]
    assert f"skillsub_dead_letters_open {1.0}" in r.http.get(f"{r.urls['payments']}/metrics").text

    # Replayed before the fix: it fails again, stays open, and nothing is drafted.
    code, _, err = r.cli(capsys, "replay", "payments", str(dead_id))
    assert code == 1 and "409" in err and "stays open" in err
    assert r.sql("SELECT status, attempts FROM dead_letter")[0] == ("open", 3)
    assert drafts_for(r, payload["decision_id"]) == 0

    fund_the_gap(r)
    code, out, _ = r.cli(capsys, "replay", "payments", str(dead_id))
    assert code == 0 and json.loads(out)["status"] == "replayed" and json.loads(out)["resolved_by"] == "demo-bureau"
    assert drafts_for(r, payload["decision_id"]) == 1
    fund = next(f for f in r.http.get(f"{r.urls['payments']}/v1/funds", headers=r.token("demo-finance")).json()
                if f["source"] == SOURCE and f["district"] == DISTRICT)
    assert fund["reserved_fen"] == 300_000

    # Replaying again, or the broker delivering the event again, changes nothing.
    code, _, err = r.cli(capsys, "replay", "payments", str(dead_id))
    assert code == 1 and "already resolved" in err
    publish(r, decided(payload))
    time.sleep(2.0)
    assert drafts_for(r, payload["decision_id"]) == 1 and len(wait_dead_letters(r, 1)) == 1
    assert f"skillsub_dead_letters_open {0.0}" in r.http.get(f"{r.urls['payments']}/metrics").text
    audit = r.http.get(f"{r.urls['payments']}/v1/audit?limit=1000", headers=r.token("demo-auditor")).json()
    replays = [a for a in audit if a["action"] == "POST /v1/dead-letters/{dead_id}/replay"]
    assert [a["actor"] for a in replays] == ["demo-bureau", "demo-bureau"]  # the failed try and the replay
    assert replays[0]["detail"]["dead_id"] == dead_id and "replay_failed" in replays[0]["detail"]


def test_a_discard_needs_a_reason_and_is_audited_with_the_person(
        running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    r = running
    payload = degree_reward("pk-degree-2")
    publish(r, decided(payload))
    [(dead_id, _, _)] = wait_dead_letters(r, 1)
    bureau = r.token("demo-bureau")
    no_reason = r.http.post(f"{r.urls['payments']}/v1/dead-letters/{dead_id}/discard", headers=bureau, json={})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    reason = "decision superseded by the review of 2019-04-02; paid by the provincial programme"
    code, out, _ = r.cli(capsys, "discard", "payments", str(dead_id), "--reason", reason)
    assert code == 0 and json.loads(out)["status"] == "discarded" and json.loads(out)["resolution"] == reason
    fund_the_gap(r)
    code, _, err = r.cli(capsys, "replay", "payments", str(dead_id))
    assert code == 1 and "already resolved" in err and drafts_for(r, payload["decision_id"]) == 0
    audit = r.http.get(f"{r.urls['payments']}/v1/audit?limit=1000", headers=r.token("demo-auditor")).json()
    [entry] = [a for a in audit if a["action"] == "POST /v1/dead-letters/{dead_id}/discard"]
    assert (entry["actor"], entry["role"], entry["detail"]["reason"]) == ("demo-bureau", "bureau", reason)
    code, out, _ = r.cli(capsys, "list", "payments", "--status", "discarded")
    assert code == 0 and "1 dead letter(s)" in out


def test_auditors_read_dead_letters_only_the_bureau_resolves_and_unreadable_ones_can_only_be_discarded(
        running: Running) -> None:
    r = running
    publish(r, b'{"not": "an envelope"')
    [(dead_id, status, claimed)] = wait_dead_letters(r, 1)
    assert (status, claimed) == ("open", False)
    base = f"{r.urls['payments']}/v1/dead-letters"
    # hr's tokens are good for payments (their audience), but hr may not read dead letters.
    auditor, hr, bureau = r.token("demo-auditor"), r.token("demo-hr"), r.token("demo-bureau")
    assert r.http.get(base, headers=auditor).json()[0]["error"].startswith("unreadable envelope")
    assert r.http.get(base).status_code == 401
    assert r.http.get(base, headers=hr).status_code == 403
    assert r.http.post(f"{base}/{dead_id}/replay", headers=auditor).status_code == 403
    assert r.http.post(f"{base}/{dead_id}/discard", headers=auditor, json={"reason": "x" * 20}).status_code == 403
    unreadable = r.http.post(f"{base}/{dead_id}/replay", headers=bureau)
    assert unreadable.status_code == 422 and "discard it" in unreadable.json()["detail"]
    assert r.http.get(f"{base}/{dead_id + 1000}", headers=auditor).status_code == 404
    assert r.http.get(f"{base}/{2**63}", headers=auditor).status_code == 422
    nothing = r.http.post(f"{r.urls['registry']}/v1/dead-letters/1/replay", headers=bureau)
    assert nothing.status_code == 409  # the registry consumes no events
