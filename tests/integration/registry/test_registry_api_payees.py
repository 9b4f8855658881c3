"""Payment accounts and training plans in the registry: set by the right authority, validated,
stored encrypted, read masked, and carried to payments by events (number encrypted)."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import text

from services.registry.main import create_app
from shared.ids import credit_code_check_char
from shared.pii import decrypt_pii, load_pii_key
from tests.accounts import bank_account, card_number
from tests.conftest import serve
from tests.integration.registry.registry_helpers import INSTITUTION, auth, resident_id

pytestmark = pytest.mark.usefixtures("drop_test_databases")

ENTERPRISE = "91320612MA1N00001G"
WORKER = {"payee_kind": "worker", "resident_id": resident_id(7), "account_kind": "social_security_card",
          "account_number": card_number(7)}
COMPANY = {"payee_kind": "enterprise", "credit_code": ENTERPRISE, "account_kind": "bank_account",
           "account_number": bank_account(1), "account_name": "南通示范机械有限公司", "bank_name": "中国银行南通分行"}


async def _rows(reg, sql: str) -> list[tuple]:
    runtime = reg._transport.app.state.runtime
    async with runtime.maker() as s:
        return [tuple(r) for r in await s.execute(text(sql))]


async def _account_events(reg) -> list[dict]:
    rows = await _rows(reg, "SELECT envelope::text FROM outbox WHERE envelope->>'type' = "
                            "'registry.payee_account.recorded' ORDER BY id")
    return [json.loads(r[0])["payload"] for r in rows]


async def test_the_employment_service_sets_a_workers_card_which_travels_encrypted_and_is_read_masked(
        settings) -> None:
    async with serve(create_app(settings)) as reg:
        feeder = await auth(reg, "demo-feeder-employment_service")
        r = await reg.post("/v1/payee-accounts", json=WORKER, headers=feeder)
        assert r.status_code == 201, r.text
        got = r.json()
        assert got["account_masked"] == card_number(7)[:4] + "*" * 11 + card_number(7)[-4:]
        assert got["revision"] == 1 and len(got["payee_ref"]) == 64  # the person key, never the ID
        assert (await reg.post("/v1/payee-accounts", json=WORKER, headers=feeder)).status_code == 200
        events = await _account_events(reg)
        assert len(events) == 1 and events[0]["payee_ref"] == got["payee_ref"]
        key = load_pii_key(settings.skillsub_pii_key)
        assert decrypt_pii(key, base64.b64decode(events[0]["account_cipher"])) == card_number(7)
        changed = await reg.post("/v1/payee-accounts", json=WORKER | {"account_number": card_number(8)},
                                 headers=feeder)
        assert changed.status_code == 201 and changed.json()["revision"] == 2
        assert [e["revision"] for e in await _account_events(reg)] == [1, 2]
        read = await reg.get(f"/v1/payee-accounts/worker/{got['payee_ref']}",
                             headers=await auth(reg, "demo-auditor"))
        assert read.status_code == 200 and read.json()["account_masked"].endswith(card_number(8)[-4:])
        everything = json.dumps(await _rows(reg, "SELECT * FROM payee_accounts"), default=str) + json.dumps(
            await _rows(reg, "SELECT envelope::text FROM outbox"), default=str) + read.text
        assert card_number(7) not in everything and card_number(8) not in everything  # encrypted at rest


@pytest.mark.parametrize(("client", "body"), [
    ("demo-feeder-social_insurance", WORKER), ("demo-bureau", WORKER), ("demo-institution", WORKER),
    ("demo-feeder-employment_service", COMPANY), ("demo-district", COMPANY),
    ("demo-security-admin", COMPANY)])
async def test_only_the_payees_authority_sets_its_account(settings, client: str, body: dict) -> None:
    async with serve(create_app(settings)) as reg:
        r = await reg.post("/v1/payee-accounts", json=body, headers=await auth(reg, client))
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == "payee_kind"
        assert await _account_events(reg) == []


@pytest.mark.parametrize(("body", "field"), [
    (WORKER | {"account_number": card_number(7)[:-1] + str((int(card_number(7)[-1]) + 1) % 10)}, "account_number"),
    (WORKER | {"account_kind": "bank_account"}, "account_kind"),
    (WORKER | {"resident_id": "110105194912310021"}, "resident_id"),
    (COMPANY | {"account_number": "12AB5678"}, "account_number"),
    (COMPANY | {"credit_code": "91110000802100433!"}, "credit_code"),
])
async def test_a_bad_account_is_refused_naming_the_field_and_leaves_nothing(settings, body: dict, field: str) -> None:
    async with serve(create_app(settings)) as reg:
        who = "demo-feeder-employment_service" if body["payee_kind"] == "worker" else "demo-bureau"
        r = await reg.post("/v1/payee-accounts", json=body, headers=await auth(reg, who))
        assert r.status_code == 422, r.text
        assert field in json.dumps(r.json()["errors"])
        assert await _rows(reg, "SELECT * FROM payee_accounts") == [] and await _account_events(reg) == []


async def test_the_bureau_sets_an_enterprises_bank_account_in_its_name(settings) -> None:
    async with serve(create_app(settings)) as reg:
        bureau = await auth(reg, "demo-bureau")
        unnamed = await reg.post("/v1/payee-accounts", json={k: v for k, v in COMPANY.items() if k != "account_name"},
                                 headers=bureau)
        assert unnamed.status_code == 422
        r = await reg.post("/v1/payee-accounts", json=COMPANY, headers=bureau)
        assert r.status_code == 201 and r.json()["payee_ref"] == ENTERPRISE
        assert (await reg.get(f"/v1/payee-accounts/enterprise/{ENTERPRISE}",
                              headers=await auth(reg, "demo-institution"))).status_code == 403
        assert (await reg.get(f"/v1/payee-accounts/institution/{ENTERPRISE}", headers=bureau)).status_code == 404
        [event] = await _account_events(reg)
        assert (event["account_name"], event["account_kind"]) == ("南通示范机械有限公司", "bank_account")


PLAN_CLASS = {"institution_id": INSTITUTION, "class_code": "XM-2020-01", "kind": "new_apprenticeship",
              "occupation_code": "6-18-01-01", "level": 3, "start_date": "2020-03-01", "end_date": "2022-02-28",
              "planned_trainees": 45, "enrolled_trainees": 45, "hours": 1600, "district": "320612"}
PLAN = {"plan_code": "NTXM-2020-001", "clause": "四.7", "planned_headcount": 45,
        "standard_per_head_fen": 500_000, "years": 2}


async def test_the_bureau_records_a_plan_for_a_listed_institutions_class_once_per_class(settings) -> None:
    async with serve(create_app(settings)) as reg:
        bureau, inst = await auth(reg, "demo-bureau"), await auth(reg, "demo-institution")
        class_id = (await reg.post("/v1/classes", json=PLAN_CLASS, headers=inst)).json()["class_id"]
        body = PLAN | {"class_id": class_id}
        unlisted = await reg.post("/v1/training-plans", json=body, headers=bureau)
        assert unlisted.status_code == 422 and unlisted.json()["errors"][0]["field"] == "class_id"
        assert (await reg.post("/v1/institutions", headers=bureau, json={
            "credit_code": INSTITUTION, "name": "南通示范职业培训学校", "kind": "training", "district": "320612",
            "listed_from": "2019-01-01"})).status_code == 201
        assert (await reg.post("/v1/training-plans", json=body, headers=inst)).status_code == 403
        r = await reg.post("/v1/training-plans", json=body, headers=bureau)
        assert r.status_code == 201, r.text
        plan = r.json()
        assert (plan["institution_id"], plan["payee_kind"], plan["level"], plan["end_date"]) == (
            INSTITUTION, "institution", 3, "2022-02-28")
        assert (await reg.post("/v1/training-plans", json=body, headers=bureau)).status_code == 200
        fixed = await reg.post("/v1/training-plans", json=body | {"planned_headcount": 44}, headers=bureau)
        assert fixed.status_code == 201 and fixed.json()["revision"] == 2
        other = await reg.post("/v1/training-plans", json=body | {"plan_code": "NTXM-2020-002"}, headers=bureau)
        assert other.status_code == 409 and other.json()["errors"][0]["field"] == "class_id"
        unknown = await reg.post("/v1/training-plans", headers=bureau,
                                 json=body | {"class_id": "00000000-0000-4000-8000-000000000000"})
        assert unknown.status_code == 422
        public = (await reg.get("/v1/training-plans")).json()
        assert [(p["plan_id"], p["planned_headcount"]) for p in public] == [(plan["plan_id"], 44)]
        rows = await _rows(reg, "SELECT envelope->'payload'->>'revision' FROM outbox WHERE envelope->>'type' = "
                                "'registry.training_plan.recorded' ORDER BY id")
        assert [r[0] for r in rows] == ["1", "2"]
        assert ENTERPRISE[:17] + credit_code_check_char(ENTERPRISE[:17]) == ENTERPRISE


async def test_a_plan_for_a_class_an_enterprise_runs_pays_that_enterprise_as_eligibility_does(settings) -> None:
    """An apprenticeship class the school runs for an enterprise: 四.7 pays the enterprise
    (eligibility's payee table), so the plan's advance goes to it and settles against its decisions."""
    async with serve(create_app(settings)) as reg:
        bureau, inst = await auth(reg, "demo-bureau"), await auth(reg, "demo-institution")
        assert (await reg.post("/v1/institutions", headers=bureau, json={
            "credit_code": INSTITUTION, "name": "南通示范职业培训学校", "kind": "training", "district": "320612",
            "listed_from": "2019-01-01"})).status_code == 201
        klass = await reg.post("/v1/classes", json=PLAN_CLASS | {"enterprise_code": ENTERPRISE}, headers=inst)
        assert klass.status_code == 201, klass.text
        r = await reg.post("/v1/training-plans", json=PLAN | {"class_id": klass.json()["class_id"]}, headers=bureau)
        assert r.status_code == 201, r.text
        assert (r.json()["institution_id"], r.json()["payee_kind"]) == (ENTERPRISE, "enterprise")
