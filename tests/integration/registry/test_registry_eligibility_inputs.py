"""What eligibility's conditions read, filled in by the registry: certificate identity (特种作业
category and item, 五.4 project type) and receipt day, an order class's enterprise, required and
completed hours, family links by person key (never the relative's ID), degree records, pension
entitlement, and Catalog / list versions with their publication time and editions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from services.registry.main import create_app
from shared.clock import nantong_today
from shared.events import Envelope
from tests.conftest import serve
from tests.integration.registry.registry_helpers import INSTITUTION, auth, certificate, publish, resident_id

pytestmark = pytest.mark.usefixtures("drop_test_databases")
ENTERPRISE = "91320612MA1N00001G"


async def payloads(reg: Any, event_type: str) -> list[dict[str, Any]]:
    runtime = reg._transport.app.state.runtime
    async with runtime.maker() as s:
        rows = (await s.execute(text("SELECT envelope::text FROM outbox WHERE envelope->>'type' = :t ORDER BY id"),
                                {"t": event_type})).scalars().all()
    return [Envelope.model_validate_json(r).parsed().model_dump(mode="json") | {"_v": json.loads(r)["version"]}
            for r in rows]


async def test_safety_and_entrepreneurship_certificates_carry_what_identifies_them(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        ops = {"number": "TZ-3206-2020-000001", "kind": "special_operations", "resident_id": resident_id(1),
               "issue_date": "2020-05-20", "issuer_code": INSTITUTION}
        missing = await reg.post("/v1/certificates", json=ops, headers=inst)
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "operation_category"
        wrong_item = await reg.post("/v1/certificates", json=ops | {"operation_category": "1",
                                                                    "operation_item": "2.1"}, headers=inst)
        assert wrong_item.status_code == 422 and wrong_item.json()["errors"][0]["field"] == "operation_item"
        ok = await reg.post("/v1/certificates", json=ops | {"operation_category": "1", "operation_item": "1.2"},
                            headers=inst)
        assert ok.status_code == 201, ok.text
        assert (ok.json()["operation_item"], ok.json()["received_on"]) == ("1.2", nantong_today().isoformat())
        syb = {"number": "CY-3206-2020-000001", "kind": "entrepreneurship", "resident_id": resident_id(2),
               "issue_date": "2020-06-01", "issuer_code": INSTITUTION}
        assert (await reg.post("/v1/certificates", json=syb, headers=inst)).json()["errors"][0]["field"] == \
            "project_type"
        bogus = await reg.post("/v1/certificates", json=syb | {"project_type": "gym"}, headers=inst)
        assert bogus.status_code == 422
        for i, project in enumerate(("syb", "simulation", "online_entrepreneurship", "entrepreneur_upgrade")):
            r = await reg.post("/v1/certificates", json=syb | {"number": f"CY-3206-2020-00001{i}",
                                                               "project_type": project}, headers=inst)
            assert r.status_code == 201, (project, r.text)
        lathe = await reg.post("/v1/certificates", json=certificate(3) | {"operation_item": "1.2"}, headers=inst)
        assert lathe.status_code == 422 and lathe.json()["errors"][0]["field"] == "operation_item"
        issued = await payloads(reg, "registry.certificate.issued")
        assert {p["_v"] for p in issued} == {2}
        assert issued[0]["operation_category"] == "1" and issued[0]["operation_item"] == "1.2"
        assert issued[0]["received_on"] == nantong_today().isoformat()
        assert sorted(p["project_type"] for p in issued[1:]) == sorted(
            ["syb", "simulation", "online_entrepreneurship", "entrepreneur_upgrade"])


async def test_an_order_class_names_its_enterprise_and_completions_carry_credited_hours(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        order = {"institution_id": INSTITUTION, "class_code": "DD-2020-01", "kind": "order_class",
                 "occupation_code": "6-18-01-01", "level": 4, "start_date": "2020-03-01",
                 "end_date": "2020-06-30", "planned_trainees": 25, "enrolled_trainees": 25, "hours": 120}
        nameless = await reg.post("/v1/classes", json=order, headers=inst)
        assert nameless.status_code == 422 and nameless.json()["errors"][0]["field"] == "enterprise_code"
        malformed = await reg.post("/v1/classes", json=order | {"enterprise_code": "91110000802100433!"},
                                   headers=inst)
        assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "enterprise_code"
        assert (await reg.post("/v1/classes", json=order | {"enterprise_code": ENTERPRISE},
                               headers=inst)).status_code == 201
        course = {"institution_id": INSTITUTION, "class_code": "SY-2020-01", "kind": "unemployed",
                  "occupation_code": "6-18-01-01", "level": 4, "start_date": "2020-03-01",
                  "end_date": "2020-04-30", "planned_trainees": 30, "enrolled_trainees": 30, "hours": 80,
                  "online_hours": 40}
        class_id = (await reg.post("/v1/classes", json=course, headers=inst)).json()["class_id"]
        done = {"kind": "class_completed", "resident_id": resident_id(4), "class_id": class_id,
                "completed_on": "2020-04-30", "hours": 70, "online_hours": 20}
        assert (await reg.post("/v1/completions", json=done, headers=inst)).status_code == 201
        classes = await payloads(reg, "registry.training_class.recorded")
        assert classes[0]["enterprise_code"] == ENTERPRISE
        assert classes[1]["required_hours"] == "100.0"  # 80 + 40 x 0.5 (example online ratio)
        completed = await payloads(reg, "registry.training.class_completed")
        assert completed[0]["_v"] == 2 and completed[0]["credited_hours"] == "80.0"  # 70 + 20 x 0.5


async def test_a_family_link_names_the_relative_by_person_key_never_by_resident_id(settings) -> None:
    relative = resident_id(7, birth="19600101")
    async with serve(create_app(settings)) as reg:
        police = await auth(reg, "demo-feeder-public_security")
        link = {"resident_id": resident_id(8), "kind": "family_link", "valid_from": "2019-01-01",
                "attributes": {"relative_resident_id": relative, "relation": "child"}}
        bad = await reg.post("/v1/facts", json=link | {"attributes": {"relative_resident_id": relative[:17] + "0",
                                                                       "relation": "child"}}, headers=police)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "attributes.relative_resident_id"
        assert (await reg.post("/v1/facts", json=link, headers=police)).status_code == 201
        bulk = await reg.post("/v1/bulk/facts", content=json.dumps(link | {"resident_id": resident_id(9)}) + "\n",
                              headers=police | {"content-type": "application/x-ndjson"})
        assert bulk.headers["X-Lines-Error"] == "0", bulk.text
        facts = await payloads(reg, "registry.person.fact_recorded")
        relative_key = facts[0]["attributes"]["relative_person_key"]
        assert facts[1]["attributes"]["relative_person_key"] == relative_key
        assert set(facts[0]["attributes"]) == {"relative_person_key", "relation"}
        runtime = reg._transport.app.state.runtime
        async with runtime.maker() as s:
            stored = (await s.execute(text("SELECT attributes::text FROM person_facts"))).scalars().all()
            known = (await s.execute(text("SELECT count(*) FROM people WHERE person_key = :k"),
                                     {"k": relative_key})).scalar_one()
            outbox = (await s.execute(text("SELECT string_agg(envelope::text, '') FROM outbox"))).scalar_one()
        assert known == 1 and relative not in "".join(stored) and relative not in outbox


async def test_degree_records_and_pension_entitlement_come_from_their_feeders(settings) -> None:
    async with serve(create_app(settings)) as reg:
        school = await auth(reg, "demo-feeder-education")
        insurance = await auth(reg, "demo-feeder-social_insurance")
        degree = {"resident_id": resident_id(10), "kind": "degree_record", "valid_from": "2020-07-01",
                  "attributes": {"certificate_number": "1032012020000123", "study_mode": "adult",
                                 "education_level": "associate"}}
        assert (await reg.post("/v1/facts", json=degree, headers=school)).status_code == 201
        odd = await reg.post("/v1/facts", json=degree | {"attributes": degree["attributes"] | {"study_mode": "x"}},
                             headers=school)
        assert odd.status_code == 422 and odd.json()["errors"][0]["field"] == "attributes.study_mode"
        assert (await reg.post("/v1/facts", json=degree, headers=insurance)).status_code == 403
        entitled = {"resident_id": resident_id(11, birth="19590301"), "kind": "monthly_pension_entitlement",
                    "valid_from": "2019-03-01"}
        assert (await reg.post("/v1/facts", json=entitled, headers=insurance)).status_code == 201


async def test_catalog_and_list_versions_carry_publication_time_and_the_latest_published_line_is_listed(
        settings) -> None:
    async with serve(create_app(settings)) as reg:
        row = {"occupation_code": "6-18-01-01", "occupation_name": "车工", "level": 4, "training_fen": 120000,
               "appraisal_fen": 20000, "valid_from": "2019-01-01"}
        for version, fen in (("t-2019.1", 120000), ("t-2019.2", 125000)):
            body = {"catalog_version": version, "standards": [row | {"training_fen": fen}]}
            assert (await publish(reg, "/v1/catalog/versions", json=body)).status_code == 201
        listed = (await reg.get("/v1/catalog/standards", params={"on": "2020-05-20",
                                                                 "occupation_code": "6-18-01-01"})).json()
        assert [(r["catalog_version"], r["training_fen"]) for r in listed] == [("t-2019.2", 125000)]
        csv = "# version: fix-2020.2\n# year: 2020\noccupation_code,edition,name_zh\n6-18-02-04,2015,焊工\n"
        r = await publish(reg, "/v1/catalog/shortage-lists", content=csv.encode(),
                          headers={"content-type": "text/csv"})
        assert r.status_code == 201, r.text
        lines = await payloads(reg, "registry.catalog.standard_published")
        assert {p["_v"] for p in lines} == {2} and lines[0]["published_at"] < lines[1]["published_at"]
        lists = await payloads(reg, "registry.catalog.shortage_list_published")
        assert lists[-1]["occupations"] == [{"code": "6-18-02-04", "edition": "2015"}]
