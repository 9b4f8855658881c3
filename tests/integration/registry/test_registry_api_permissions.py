"""Deny by default: each role writes only what domain.can_write allows, within its own scope."""

from __future__ import annotations

import pytest

from services.registry.main import create_app
from tests.conftest import serve
from tests.integration.registry.registry_helpers import INSTITUTION, auth, certificate, resident_id

pytestmark = pytest.mark.usefixtures("drop_test_databases")

OTHER_INSTITUTION = "91320600MA1MXXXX0B"
FACT = {"resident_id": resident_id(7), "kind": "unemployment_insurance_months", "valid_from": "2020-01-01",
        "attributes": {"months": 40}}
CLASS = {"institution_id": INSTITUTION, "class_code": "C-1", "kind": "pre_job", "occupation_code": "6-18-01-01",
         "level": 4, "start_date": "2020-03-01", "end_date": "2020-04-30", "planned_trainees": 30,
         "enrolled_trainees": 28, "hours": 40, "online_hours": 20, "district": "320612"}


def field_of(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.json()["errors"][0]["field"])


async def test_institutions_write_only_their_own_certificates_classes_and_completions(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        foreign = await reg.post("/v1/certificates", json=certificate(issuer_code=OTHER_INSTITUTION), headers=inst)
        assert foreign.status_code == 403 and field_of(foreign) == "issuer_code"
        other_class = await reg.post("/v1/classes", json=CLASS | {"institution_id": OTHER_INSTITUTION}, headers=inst)
        assert other_class.status_code == 403 and field_of(other_class) == "institution_id"
        bureau = await auth(reg, "demo-bureau")
        bureau_class = await reg.post("/v1/classes", json=CLASS | {"institution_id": OTHER_INSTITUTION},
                                      headers=bureau)
        assert bureau_class.status_code == 403  # the bureau does not run classes
        own = await reg.post("/v1/classes", json=CLASS, headers=inst)
        assert own.status_code == 201, own.text
        completion = {"kind": "class_completed", "resident_id": resident_id(3), "class_id": own.json()["class_id"],
                      "completed_on": "2020-04-30"}
        for who in ("demo-district", "demo-auditor", "demo-feeder-education", "demo-bureau"):
            r = await reg.post("/v1/completions", json=completion, headers=await auth(reg, who))
            assert r.status_code == 403, who
        assert (await reg.post("/v1/completions", json=completion, headers=inst)).status_code == 201
        cert = (await reg.post("/v1/certificates", json=certificate(), headers=inst)).json()
        revoke = {"revoked_on": "2020-07-01", "reason": "fraud found"}
        for who in ("demo-district", "demo-auditor"):
            r = await reg.post(f"/v1/certificates/{cert['certificate_id']}/revocations", json=revoke,
                               headers=await auth(reg, who))
            assert r.status_code == 403, who
        by_bureau = await reg.post(f"/v1/certificates/{cert['certificate_id']}/revocations", json=revoke,
                                   headers=bureau)
        assert by_bureau.status_code == 200 and by_bureau.json()["revoked_on"] == "2020-07-01"


async def test_each_feeder_writes_only_its_own_fact_kinds_with_their_attribute_contract(settings) -> None:
    async with serve(create_app(settings)) as reg:
        social = await auth(reg, "demo-feeder-social_insurance")
        assert (await reg.post("/v1/facts", json=FACT, headers=social)).status_code == 201
        employment = FACT | {"kind": "employment",
                             "attributes": {"employer_code": "91320612MA1N00001G", "hire_date": "2020-01-01"}}
        wrong_feeder = await reg.post("/v1/facts", json=employment, headers=social)
        assert wrong_feeder.status_code == 403 and field_of(wrong_feeder) == "kind"
        unknown = await reg.post("/v1/facts", json=FACT | {"kind": "lottery_win"}, headers=social)
        assert unknown.status_code == 422 and field_of(unknown) == "kind"
        no_months = await reg.post("/v1/facts", json=FACT | {"attributes": {"months": "many"}}, headers=social)
        assert no_months.status_code == 422 and field_of(no_months) == "attributes.months"
        extra = await reg.post("/v1/facts", json=FACT | {"attributes": {"months": 3, "salary": 9}}, headers=social)
        assert extra.status_code == 422 and field_of(extra) == "attributes.salary"
        spoofed = await reg.post("/v1/facts", json=FACT | {"source": "civil_affairs"}, headers=social)
        assert spoofed.status_code == 403 and field_of(spoofed) == "source"
        for who in ("demo-institution", "demo-bureau", "demo-district", "demo-auditor"):
            assert (await reg.post("/v1/facts", json=FACT, headers=await auth(reg, who))).status_code == 403, who


async def test_district_staff_act_only_in_their_district_and_auditors_change_nothing(settings) -> None:
    async with serve(create_app(settings)) as reg:
        district, auditor = await auth(reg, "demo-district"), await auth(reg, "demo-auditor")
        inst = {"credit_code": OTHER_INSTITUTION, "name": "南通示范培训学校", "kind": "training",
                "district": "320612", "listed_from": "2020-01-01"}
        assert (await reg.post("/v1/institutions", json=inst, headers=district)).status_code == 201
        elsewhere = await reg.post("/v1/institutions", json=inst | {"district": "320681"}, headers=district)
        assert elsewhere.status_code == 403 and field_of(elsewhere) == "district"
        person = {"resident_id": resident_id(9), "district": "320681"}
        assert (await reg.post("/v1/people", json=person, headers=district)).status_code == 403
        mine = await reg.post("/v1/people", json=person | {"district": "320612"}, headers=district)
        assert mine.status_code == 200  # the same answer whether or not the person was known
        for path, body in (("/v1/institutions", inst), ("/v1/people", person), ("/v1/facts", FACT),
                           ("/v1/certificates", certificate()), ("/v1/classes", CLASS)):
            assert (await reg.post(path, json=body, headers=auditor)).status_code == 403, path
        catalog = {"catalog_version": "x-1", "standards": [{"occupation_code": "6-18-01-01", "occupation_name": "车工",
                   "level": 4, "training_fen": 1, "appraisal_fen": 1, "valid_from": "2019-01-01"}]}
        for who in ("demo-district", "demo-auditor", "demo-institution"):
            r = await reg.post("/v1/catalog/versions", json=catalog, headers=await auth(reg, who))
            assert r.status_code == 403, who


async def test_person_records_show_full_ids_only_to_granted_roles_and_only_in_scope(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        cert = (await reg.post("/v1/certificates", json=certificate(district="320612"), headers=inst)).json()
        assert cert["resident_id"] is None and cert["resident_id_masked"] == "*" * 14 + resident_id(1)[-4:]
        key = cert["person_key"]
        seen = await reg.get(f"/v1/people/{key}", headers=await auth(reg, "demo-auditor"))
        assert seen.status_code == 200 and seen.json()["resident_id"] == resident_id(1)
        assert (await reg.get(f"/v1/certificates/{cert['certificate_id']}", headers=await auth(reg, "demo-bureau"))
                ).json()["resident_id"] == resident_id(1)
        masked = await reg.get(f"/v1/people/{key}", headers=inst)
        assert masked.status_code == 200 and masked.json()["resident_id"] is None
        assert (await reg.get(f"/v1/people/{key}")).status_code == 401
        feeder = await reg.get(f"/v1/people/{key}", headers=await auth(reg, "demo-feeder-education"))
        assert feeder.status_code == 403
        admin = await auth(reg, "demo-security-admin")
        created = await reg.post("/v1/clients", json={"client_id": "qidong", "role": "district",
                                                      "districts": ["320681"]}, headers=admin)
        other_district = await auth(reg, "qidong", created.json()["client_secret"])
        assert (await reg.get(f"/v1/people/{key}", headers=other_district)).status_code == 403
