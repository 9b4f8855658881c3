"""Institutions, classes and completions: stored, public, evented; the person's training record."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.registry.main import create_app
from shared.ids import credit_code_check_char
from tests.conftest import serve
from tests.integration.registry.registry_helpers import (
    INSTITUTION,
    auth,
    certificate,
    outbox_types,
    resident_id,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")

GOOD_CODE = "91320600MA1MXXXX0" + credit_code_check_char("91320600MA1MXXXX0")
BAD_CHECK = GOOD_CODE[:17] + ("0" if GOOD_CODE[17] != "0" else "1")
CLASS = {"institution_id": INSTITUTION, "class_code": "C-1", "kind": "upgrading", "occupation_code": "6-18-01-01",
         "level": 4, "start_date": "2020-03-01", "end_date": "2020-04-30", "planned_trainees": 30,
         "enrolled_trainees": 28, "hours": 40, "online_hours": 21, "district": "320612"}


async def test_institution_with_a_check_mismatch_is_listed_with_a_warning_on_a_valid_district(settings) -> None:
    async with serve(create_app(settings)) as reg:
        bureau = await auth(reg, "demo-bureau")
        body = {"credit_code": BAD_CHECK, "name": "示范学校", "kind": "technical_school", "district": "320613",
                "listed_from": "2021-01-01", "listed_to": "2023-12-31"}
        r = await reg.post("/v1/institutions", json=body, headers=bureau)
        assert r.status_code == 201 and "GB 32100" in r.json()["warnings"][0]
        assert (await reg.post("/v1/institutions", json=body, headers=bureau)).status_code == 200
        merged_away = await reg.post("/v1/institutions", json=body | {"district": "320602"}, headers=bureau)
        assert merged_away.status_code == 422 and merged_away.json()["errors"][0]["field"] == "district"
        malformed = await reg.post("/v1/institutions", json=body | {"credit_code": "91320600MA1MXXXX0!"},
                                   headers=bureau)
        assert malformed.status_code == 422
        listed = (await reg.get("/v1/institutions", params={"on": "2022-06-01"})).json()
        assert [i["credit_code"] for i in listed] == [BAD_CHECK]
        assert (await reg.get("/v1/institutions", params={"on": "2024-01-01"})).json() == []
        assert ("registry.institution.recorded", BAD_CHECK) in await outbox_types(reg)


async def test_training_record_sums_credit_hours_with_online_hours_by_the_dated_ratio(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        opened = await reg.post("/v1/classes", json=CLASS, headers=inst)
        assert opened.status_code == 201
        class_id = opened.json()["class_id"]
        assert (await reg.post("/v1/classes", json=CLASS, headers=inst)).json()["class_id"] == class_id
        done = {"kind": "class_completed", "resident_id": resident_id(1), "class_id": class_id,
                "completed_on": "2020-04-30"}
        first = await reg.post("/v1/completions", json=done, headers=inst)
        assert first.status_code == 201
        assert (await reg.post("/v1/completions", json=done, headers=inst)).status_code == 200
        wrong = await reg.post("/v1/completions", json=done | {"kind": "apprenticeship_year_completed",
                                                               "apprenticeship_year": 1}, headers=inst)
        assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "kind"
        await reg.post("/v1/certificates", json=certificate(class_id=class_id), headers=inst)
        key = first.json()["person_key"]
        record = (await reg.get(f"/v1/people/{key}", headers=await auth(reg, "demo-auditor"))).json()
        assert record["credit_hours"] == "50.5"  # 40 + 21 x 0.5 (EXAMPLE ratio)
        assert [c["class_code"] for c in record["classes"]] == ["C-1"]
        assert [c["number"] for c in record["certificates"]] == [certificate()["number"]]
        public = (await reg.get("/v1/classes", params={"institution_id": INSTITUTION})).json()
        assert public[0]["online_hours"] == 21
        events = await outbox_types(reg)
        assert ("registry.training_class.recorded", class_id) in events
        assert ("registry.training.class_completed", key) in events
        assert sum(t == "registry.training.class_completed" for t, _ in events) == 1


async def test_apprenticeship_years_and_work_based_months_emit_their_own_events(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        appr = (await reg.post("/v1/classes", json=CLASS | {"class_code": "A-1", "kind": "new_apprenticeship"},
                               headers=inst)).json()["class_id"]
        work = (await reg.post("/v1/classes", json=CLASS | {"class_code": "W-1", "kind": "work_based"},
                               headers=inst)).json()["class_id"]
        base = {"resident_id": resident_id(2), "completed_on": "2020-12-31"}
        no_year = await reg.post("/v1/completions", json=base | {"kind": "apprenticeship_year_completed",
                                                                 "class_id": appr}, headers=inst)
        assert no_year.status_code == 422 and no_year.json()["errors"][0]["field"] == "apprenticeship_year"
        year = await reg.post("/v1/completions", json=base | {"kind": "apprenticeship_year_completed",
                                                              "class_id": appr, "apprenticeship_year": 1}, headers=inst)
        months = await reg.post("/v1/completions", json=base | {"kind": "work_based_months", "class_id": work,
                                                                "months": 3}, headers=inst)
        assert (year.status_code, months.status_code) == (201, 201)
        types = [t for t, _ in await outbox_types(reg)]
        assert "registry.training.apprenticeship_year_completed" in types
        assert "registry.training.work_based_months_recorded" in types


async def test_a_class_names_its_department_from_the_list_and_a_change_of_department_is_evented(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        unknown = await reg.post("/v1/classes", json=CLASS | {"department": "宣传部"}, headers=inst)
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "department"
        first = await reg.post("/v1/classes", json=CLASS | {"department": "农业农村局"}, headers=inst)
        assert first.status_code == 201
        moved = await reg.post("/v1/classes", json=CLASS | {"department": "退役军人事务局"}, headers=inst)
        assert moved.status_code == 201  # a change: recorded and evented again
        again = await reg.post("/v1/classes", json=CLASS | {"department": "退役军人事务局"}, headers=inst)
        assert again.status_code == 200
        runtime = reg._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.maker() as s:
            rows = (await s.execute(text(
                "SELECT envelope->'payload'->>'department' FROM outbox "
                "WHERE envelope->>'type' = 'registry.training_class.recorded' ORDER BY id"))).scalars().all()
        assert rows == ["农业农村局", "退役军人事务局"]
