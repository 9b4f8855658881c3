"""Helpers for the payments integration tests: a running payments app, decisions, actors."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from services.payments import handlers
from services.payments.main import create_app
from shared.events import PayeeAccountRecordedV1, Payload, SubsidyDecidedV2, TrainingPlanRecordedV1, new_envelope
from shared.ids import resident_id_check_char
from shared.pii import encrypt_pii, load_pii_key, lookup_hash
from shared.settings import Settings
from tests.accounts import bank_account, card_number
from tests.conftest import FreshBearer, serve

HR_A = FreshBearer("hr-alice", "hr")
HR_C = FreshBearer("hr-carol", "hr")
FIN_B = FreshBearer("fin-bob", "finance")
FIN_D = FreshBearer("fin-dora", "finance")
UI = "unemployment_insurance_surplus"
DISTRICT = "320612"
ENTERPRISE = "91320612MA1N00001G"  # GB 32100 valid
INSTITUTION = "52320613MJ0000003P"
_SEQ = iter(range(1, 10**6))


def resident_id(seq: int) -> str:
    first17 = f"320612198503{seq // 1000 % 28 + 1:02d}{seq % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def worker(seq: int | None = None) -> str:
    """A worker's person key as the registry derives it (keyed HMAC of a real-shaped resident ID)."""
    return lookup_hash(load_pii_key(Settings(skillsub_env="test").skillsub_pii_key),
                       resident_id(next(_SEQ) if seq is None else seq))


@dataclass
class FakeTreasury:
    """The treasury at the HTTP boundary: records every order by its Idempotency-Key."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.fail_next:
            self.fail_next -= 1
            return httpx.Response(503)
        self.calls.append((request.headers["Idempotency-Key"], json.loads(request.content)))
        return httpx.Response(201, json={"accepted": True})

    @property
    def keys(self) -> set[str]:
        return {k for k, _ in self.calls}


@contextlib.asynccontextmanager
async def payments(settings: Settings, treasury: FakeTreasury | None = None) -> AsyncIterator[Any]:
    app = create_app(settings.model_copy(update={"treasury_url": "http://treasury.test"}))
    runtime = app.state.runtime
    runtime.state["treasury_transport"] = httpx.MockTransport((treasury or FakeTreasury()).handler)
    async with serve(app) as client:
        client.runtime = runtime  # type: ignore[attr-defined]
        yield client


def decision(amount_fen: int = 100_000, clause: str = "四.4", outcome: str = "approved",
             supersedes: uuid.UUID | str | None = None, person: str | None = None, **over: Any) -> dict[str, Any]:
    """A decision as eligibility sends it; a worker's decision names the worker as payee."""
    person = person or worker()
    fields: dict[str, Any] = {"payee_kind": "worker", "payee_ref": person, "trigger_id": uuid.uuid4()} | over
    p = SubsidyDecidedV2(
        decision_id=uuid.uuid4(), person_key=person, trigger_kind="certificate", clause=clause, outcome=outcome,
        amount_fen=amount_fen, clauses_cited=[clause], decided_on=dt.date(2020, 6, 1), year=2020,
        district=DISTRICT, supersedes=supersedes, **fields)
    return p.model_dump(mode="json")


def successor(of: dict[str, Any], amount_fen: int, outcome: str = "approved", **over: Any) -> dict[str, Any]:
    """The next decision of the same trigger, superseding `of` (a re-decision or a reversal)."""
    same = {k: of[k] for k in ("trigger_id", "payee_kind", "payee_ref", "clause")}
    return decision(amount_fen, outcome=outcome, supersedes=of["decision_id"], person=of["person_key"],
                    **(same | over))


def account(client: Any, payee_ref: str, kind: str = "worker", revision: int = 1, seq: int = 1) -> dict[str, Any]:
    """registry.payee_account.recorded as the registry sends it: the number encrypted."""
    number = card_number(seq) if kind == "worker" else bank_account(seq)
    cipher = base64.b64encode(encrypt_pii(client.runtime.state["pii_key"], number)).decode()
    return PayeeAccountRecordedV1(
        payee_kind=kind, payee_ref=payee_ref, revision=revision, recorded_on=dt.date(2020, 5, 1),
        account_kind="social_security_card" if kind == "worker" else "bank_account", account_cipher=cipher,
        account_masked=number[:4] + "*" * (len(number) - 8) + number[-4:],
        account_name=None if kind == "worker" else "南通示范有限公司").model_dump(mode="json")


async def deliver(client: Any, *payloads: dict[str, Any], accounts: bool = True) -> None:
    """What the inbox does with one consumed batch: handle in one transaction, then commit. With
    `accounts`, the payees' accounts arrive first (the registry recorded them before)."""
    if accounts:
        payees = {(p["payee_kind"], p["payee_ref"]) for p in payloads
                  if "decision_id" in p and p.get("payee_ref")}
        await deliver_events(client, *(account(client, ref, kind) for kind, ref in sorted(payees)))
    await deliver_events(client, *payloads)


async def deliver_events(client: Any, *payloads: dict[str, Any]) -> None:
    envs = [_envelope(p) for p in payloads]
    async with client.runtime.maker() as session:
        await handlers.handle(session, [e.typed() for e in envs], client.runtime)
        await session.commit()


def _envelope(p: dict[str, Any]) -> Any:
    model: type[Payload] = SubsidyDecidedV2 if "decision_id" in p else PayeeAccountRecordedV1
    if model is SubsidyDecidedV2:
        return new_envelope(SubsidyDecidedV2.model_validate(p), key=p["person_key"], producer="eligibility",
                            event_id=uuid.UUID(p["decision_id"]))
    if "plan_id" in p:
        return new_envelope(TrainingPlanRecordedV1.model_validate(p), key=p["plan_id"], producer="registry",
                            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"plan:{p['plan_id']}:{p['revision']}"))
    return new_envelope(model.model_validate(p), key=p["payee_ref"], producer="registry",
                        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"acct:{p['payee_kind']}:{p['payee_ref']}:"
                                                                f"{p['revision']}"))


async def scalar(client: Any, sql: str, **params: Any) -> Any:
    async with client.runtime.maker() as session:
        return await session.scalar(sa.text(sql), params)


async def fund(client: Any, source: str = UI) -> dict[str, Any]:
    # a finance client: staff read the waiting queue exact (the public one is suppressed)
    funds = (await client.get("/v1/funds", headers=FIN_B)).json()
    return next(f for f in funds if f["source"] == source and f["district"] == DISTRICT)


async def allocate(client: Any, amount_fen: int, ref: str | None = None, source: str = UI) -> httpx.Response:
    """Finance drafts, hr approves, another finance client releases (maker-checker); the release's answer."""
    body = {"reference": ref or f"CZ-{uuid.uuid4().hex[:8]}", "source": source, "district": DISTRICT,
            "amount_fen": amount_fen}
    drafted = await client.post("/v1/allocations", json=body, headers=FIN_B)
    assert drafted.status_code == 201, drafted.text
    item = drafted.json()["item_id"]
    assert (await client.post(f"/v1/manual-items/{item}/approve", headers=HR_A)).status_code == 200
    return await client.post(f"/v1/manual-items/{item}/release", headers=FIN_D)


def plan(institution: str, headcount: int = 45, standard_fen: int = 500_000, years: int = 2,
         end: str = "2022-02-28", clause: str = "四.7", payee_kind: str = "enterprise") -> dict[str, Any]:
    """registry.training_plan.recorded: the bureau's approved plan for one class."""
    return TrainingPlanRecordedV1(
        plan_id=uuid.uuid4(), plan_code=f"NTXM-{uuid.uuid4().hex[:6]}", institution_id=institution,
        payee_kind=payee_kind, class_id=uuid.uuid4(), clause=clause, district=DISTRICT,
        occupation_code="6-18-01-01", level=3, planned_headcount=headcount, standard_per_head_fen=standard_fen,
        years=years, start_date=dt.date(2020, 3, 1), end_date=dt.date.fromisoformat(end), revision=1,
    ).model_dump(mode="json")


async def release_batch(client: Any, approver: Any = HR_C, releaser: Any = FIN_B) -> tuple[str, list[dict[str, str]]]:
    """hr A batches what is reserved, `approver` approves, `releaser` releases; (batch id, payment file rows)."""
    created = await client.post("/v1/batches", json={}, headers=HR_A)
    assert created.status_code == 201, created.text
    bid = created.json()["batch_id"]
    assert (await client.post(f"/v1/batches/{bid}/approve", headers=approver)).status_code == 200
    released = await client.post(f"/v1/batches/{bid}/release", headers=releaser)
    assert released.status_code == 200, released.text
    return bid, await payment_file(client, bid)


async def payment_file(client: Any, bid: str) -> list[dict[str, str]]:
    import csv
    import io

    text = (await client.get(f"/v1/batches/{bid}/payment-file", headers=FIN_B)).text
    return list(csv.DictReader(io.StringIO(text)))


async def statement(client: Any, rows: list[dict[str, str]], status: str = "paid") -> dict[str, Any]:
    """The treasury's statement for these payment-file rows."""
    body = "payment_ref,amount_fen,status\n" + "".join(f"{r['payment_ref']},{r['amount_fen']},{status}\n"
                                                       for r in rows)
    r = await client.post("/v1/statements", json={"reference": f"ST-{uuid.uuid4().hex[:8]}", "csv": body},
                          headers=FIN_B)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def verification(client: Any) -> dict[str, Any]:
    r = await client.get("/v1/ledger/verification", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return dict(r.json())


AUDITOR = FreshBearer("aud-erin", "auditor")


async def held(client: Any) -> dict[str, str]:
    """Open holds: decision id -> reason."""
    return {h["decision_id"]: h["reason"] for h in (await client.get("/v1/holds", headers=FIN_B)).json()}
