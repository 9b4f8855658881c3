"""Who is paid, through the running services: the registry records an apprenticeship class and its
year, eligibility decides 四.7 for the enterprise (SubsidyDecidedV2 names it), payments holds the
draft until the bureau records the enterprise's bank account in the registry, then pays that account,
never the apprentice, and the ledger verifies."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from services.eligibility.main import create_app as eligibility_app
from services.payments.main import create_app as payments_app
from services.registry.main import create_app as registry_app
from tests.accounts import bank_account
from tests.conftest import serve
from tests.integration.registry.registry_helpers import resident_id
from tests.integration.test_backbone_pipeline import allocate, auth, eventually

pytestmark = pytest.mark.usefixtures("drop_test_databases")

APPRENTICE_ID = "440524188001010014"
ENTERPRISE = "91320612MA1N00001G"
INSTITUTION = "52320613MJ0000003P"  # the demo institution
DISTRICT = "320612"


async def test_an_apprenticeship_year_is_paid_to_the_enterprises_bank_account_recorded_by_the_bureau(
        settings) -> None:
    apps = [registry_app(settings), eligibility_app(settings), payments_app(settings)]
    async with serve(apps[0]) as reg, serve(apps[1]) as eli, serve(apps[2]) as pay:
        feeder, institution = await auth(reg, "demo-feeder-employment_service"), await auth(reg, "demo-institution")
        bureau, finance = await auth(reg, "demo-bureau"), await auth(reg, "demo-finance")
        await allocate(reg, pay, 10_000_000)
        employed = await reg.post("/v1/facts", headers=feeder, json={
            "resident_id": APPRENTICE_ID, "kind": "employment", "valid_from": "2019-09-01", "attributes": {
                "employer_code": ENTERPRISE, "hire_date": "2019-09-01", "contract_months": 36}})
        assert employed.status_code == 201, employed.text
        klass = await reg.post("/v1/classes", headers=institution, json={
            "institution_id": INSTITUTION, "class_code": "XT-2019-07", "kind": "new_apprenticeship",
            "occupation_code": "6-18-01-01", "level": 3, "start_date": "2019-09-01", "end_date": "2020-08-31",
            "planned_trainees": 30, "enrolled_trainees": 30, "hours": 80, "district": DISTRICT,
            "enterprise_code": ENTERPRISE})
        assert klass.status_code == 201, klass.text
        done = await reg.post("/v1/completions", headers=institution, json={
            "kind": "apprenticeship_year_completed", "resident_id": APPRENTICE_ID,
            "class_id": klass.json()["class_id"], "completed_on": "2020-08-31", "apprenticeship_year": 1})
        assert done.status_code == 201, done.text

        async def decided() -> Any:
            r = await eli.get(f"/v1/certificates/{done.json()['completion_id']}/decisions", headers=bureau)
            got = r.json() if r.status_code == 200 else []
            return got[0] if got and got[0]["outcome"] == "approved" else None

        d = await eventually(decided)
        assert (d["clause"], d["amount_fen"], d["payee_kind"], d["payee_ref"]) == (
            "四.7", 500000, "enterprise", ENTERPRISE)

        async def payment() -> Any:
            r = await pay.get(f"/v1/decisions/{d['decision_id']}/payment", headers=finance)
            return r.json() if r.status_code == 200 else None

        held = await eventually(payment)
        assert held["hold"]["reason"] == "no_payment_account" and held["disbursements"] == []
        assert (held["payee_kind"], held["payee_ref"]) == ("enterprise", ENTERPRISE)

        account = {"payee_kind": "enterprise", "credit_code": ENTERPRISE, "account_kind": "bank_account",
                   "account_number": bank_account(3), "account_name": "南通示范机械有限公司",
                   "bank_name": "中国银行南通分行"}
        assert (await reg.post("/v1/payee-accounts", json=account, headers=bureau)).status_code == 201

        async def drafted() -> Any:
            got = await payment()
            return got if got and got["hold"] is None and got["disbursements"] else None

        draft = (await eventually(drafted))["disbursements"]
        assert [(x["payee_kind"], x["payee_ref"], x["amount_fen"], x["status"]) for x in draft] == [
            ("enterprise", ENTERPRISE, 500000, "reserved")]

        batch = await pay.post("/v1/batches", json={}, headers=await auth(reg, "demo-hr-2"))
        assert batch.status_code == 201, batch.text
        bid = batch.json()["batch_id"]
        assert (await pay.post(f"/v1/batches/{bid}/approve", headers=await auth(reg, "demo-hr"))).status_code == 200
        assert (await pay.post(f"/v1/batches/{bid}/release", headers=finance)).status_code == 200
        file = (await pay.get(f"/v1/batches/{bid}/payment-file", headers=finance)).text
        rows = list(csv.DictReader(io.StringIO(file)))
        assert [(r["payee_kind"], r["payee_ref"], r["account_kind"], r["account_number"], r["account_name"],
                 r["amount_fen"]) for r in rows] == [
            ("enterprise", ENTERPRISE, "bank_account", bank_account(3), "南通示范机械有限公司", "500000")]
        assert APPRENTICE_ID not in file and d["person_key"] not in file  # the apprentice is not the payee

        verification = await pay.get("/v1/ledger/verification", headers=await auth(reg, "demo-auditor"))
        assert verification.status_code == 200 and verification.json()["drift"] == [], verification.text


async def _release(pay: Any, reg: Any, drafter: str) -> list[dict[str, str]]:
    """Batch what is reserved (hr `drafter`), another hr approves, finance releases; the file's rows."""
    batch = await pay.post("/v1/batches", json={}, headers=await auth(reg, drafter))
    assert batch.status_code == 201, batch.text
    bid = batch.json()["batch_id"]
    approver = "demo-hr" if drafter != "demo-hr" else "demo-hr-2"
    assert (await pay.post(f"/v1/batches/{bid}/approve", headers=await auth(reg, approver))).status_code == 200
    finance = await auth(reg, "demo-finance")
    assert (await pay.post(f"/v1/batches/{bid}/release", headers=finance)).status_code == 200
    rows = list(csv.DictReader(io.StringIO((await pay.get(f"/v1/batches/{bid}/payment-file", headers=finance)).text)))
    paid = "payment_ref,amount_fen,status\n" + "".join(f"{r['payment_ref']},{r['amount_fen']},paid\n" for r in rows)
    answer = await pay.post("/v1/statements", json={"reference": f"ST-{bid[:8]}", "csv": paid}, headers=finance)
    assert answer.status_code == 200, answer.text
    return rows


async def test_the_reference_payout_through_the_services_advance_112500_then_settlement_217500(settings) -> None:
    """REFERENCE.md's county payout: a school's apprenticeship class for an enterprise, 45 planned at
    level 3 for 2 years. The bureau records the plan in the registry; payments advances 112,500 yuan
    to the enterprise from the plan alone; 33 apprentices complete both years (registry -> eligibility
    decides 四.7 for the enterprise, by class); payments holds those decisions for the plan and the
    settlement pays 33 × 5,000 × 2 − 112,500 = 217,500 yuan."""
    apps = [registry_app(settings), eligibility_app(settings), payments_app(settings)]
    async with serve(apps[0]) as reg, serve(apps[1]) as eli, serve(apps[2]) as pay:
        feeder, institution = await auth(reg, "demo-feeder-employment_service"), await auth(reg, "demo-institution")
        bureau, hr = await auth(reg, "demo-bureau"), await auth(reg, "demo-hr")
        await allocate(reg, pay, 100_000_000)
        assert (await reg.post("/v1/institutions", headers=bureau, json={
            "credit_code": INSTITUTION, "name": "南通示范职业培训学校", "kind": "training", "district": DISTRICT,
            "listed_from": "2019-01-01"})).status_code in (200, 201)
        assert (await reg.post("/v1/payee-accounts", headers=bureau, json={
            "payee_kind": "enterprise", "credit_code": ENTERPRISE, "account_kind": "bank_account",
            "account_number": bank_account(5), "account_name": "南通示范机械有限公司"})).status_code == 201
        klass = await reg.post("/v1/classes", headers=institution, json={
            "institution_id": INSTITUTION, "class_code": "XT-2019-45", "kind": "new_apprenticeship",
            "occupation_code": "6-18-01-01", "level": 3, "start_date": "2019-09-01", "end_date": "2021-08-31",
            "planned_trainees": 45, "enrolled_trainees": 45, "hours": 1600, "district": DISTRICT,
            "enterprise_code": ENTERPRISE})
        assert klass.status_code == 201, klass.text
        class_id = klass.json()["class_id"]
        recorded = await reg.post("/v1/training-plans", headers=bureau, json={
            "plan_code": "NTXM-2019-045", "class_id": class_id, "clause": "四.7", "planned_headcount": 45,
            "standard_per_head_fen": 500_000, "years": 2})
        assert recorded.status_code == 201, recorded.text
        plan_id = recorded.json()["plan_id"]

        async def advance() -> Any:
            r = await pay.post("/v1/advances", json={"plan_id": plan_id}, headers=await auth(reg, "demo-hr-2"))
            return r.json() if r.status_code == 201 else None

        drafted = await eventually(advance)  # once payments has the plan from the registry's event
        assert (drafted["amount_fen"], drafted["planned_fen"]) == (11_250_000, 45_000_000)
        [row] = await _release(pay, reg, "demo-hr-2")
        assert (row["payee_kind"], row["payee_ref"], row["amount_yuan"]) == ("enterprise", ENTERPRISE, "112500.00")

        for seq in range(33):
            rid = resident_id(500 + seq)
            assert (await reg.post("/v1/facts", headers=feeder, json={
                "resident_id": rid, "kind": "employment", "valid_from": "2019-09-01", "attributes": {
                    "employer_code": ENTERPRISE, "hire_date": "2019-09-01", "contract_months": 36}})).status_code == 201
            for year, day in ((1, "2020-08-31"), (2, "2021-08-31")):
                done = await reg.post("/v1/completions", headers=institution, json={
                    "kind": "apprenticeship_year_completed", "resident_id": rid, "class_id": class_id,
                    "completed_on": day, "apprenticeship_year": year})
                assert done.status_code == 201, done.text

        async def all_held() -> Any:
            r = await pay.get("/v1/holds", params={"reason": "awaiting_plan_settlement"}, headers=hr)
            return r.json() if r.status_code == 200 and len(r.json()) == 66 else None

        held = await eventually(all_held, timeout=120)
        last = (await eli.get(f"/v1/certificates/{done.json()['completion_id']}/decisions", headers=bureau)).json()[0]
        assert (last["clause"], last["amount_fen"], last["payee_ref"], last["class_id"]) == (
            "四.7", 500_000, ENTERPRISE, class_id)
        assert {(h["payee_kind"], h["payee_ref"]) for h in held} == {("enterprise", ENTERPRISE)}
        settled = await pay.post(f"/v1/advances/{plan_id}/settlement", json={}, headers=hr)
        assert settled.status_code == 201, settled.text
        assert {k: settled.json()[k] for k in ("completer_decisions", "earned_fen", "advance_fen", "pay_fen",
                                                "recover_fen")} == {
            "completer_decisions": 66, "earned_fen": 33_000_000, "advance_fen": 11_250_000, "pay_fen": 21_750_000,
            "recover_fen": 0}
        [row] = await _release(pay, reg, "demo-hr")  # demo-hr drafted the settlement: demo-hr-2 approves
        assert (row["payee_ref"], row["account_number"], row["amount_yuan"]) == (ENTERPRISE, bank_account(5),
                                                                                 "217500.00")
        report = await pay.get("/v1/ledger/verification", headers=await auth(reg, "demo-auditor"))
        assert report.json()["drift"] == [] and report.json()["checked"]["plans_settled"] == 1, report.text
