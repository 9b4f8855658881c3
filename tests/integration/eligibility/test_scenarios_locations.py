"""Issue 11, the location checks, the whole way: registry REST -> registry.* events -> eligibility ->
the decision read back. 十三.2 (special-ability, special-operations and training certificates only
if obtained in Nantong) reads the issuer's credit code; 四.5b (a Nantong enterprise's employee,
insured in Nantong) reads the employer's credit code and the pension record's insuring region.
Before, all three defaulted to "in Nantong" when nobody said otherwise."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.integration.eligibility.pipeline import Pipeline, codes_of, resident_id

FUZHOU_INSTITUTION = "91350100M000100Y43"  # registered in 福州 (350100)
BEIJING_EMPLOYER = "91110000802100433B"  # registered in 北京 (110000)
NANJING = "320100"
TONGZHOU = "320612"
SAFETY = {"kind": "special_operations", "occupation_code": None, "level": None, "operation_category": "1",
          "operation_item": "1.2"}


async def degree_holder(p: Pipeline, seq: int, number: str) -> str:
    """A part-time associate degree in 2020 with the education feeder's record; the rest is the test's."""
    rid = resident_id(seq)
    await p.fact(rid, "degree_record", "2020-07-01", certificate_number=number, study_mode="adult",
                 education_level="associate")
    return rid


async def degree(p: Pipeline, rid: str, number: str) -> str:
    return await p.certificate(rid, number, kind="degree", occupation_code=None, level=None, issue_date="2020-07-01")


async def test_13_2_a_special_operations_certificate_issued_outside_nantong_is_refused_citing_the_clause(
        pipeline: Pipeline) -> None:
    rid = resident_id(601)
    fuzhou = await pipeline.institution_client("fuzhou-safety-school", FUZHOU_INSTITUTION)
    body = {"number": "TZ-3501-2020-000601", "resident_id": rid, "issue_date": "2020-05-20",
            "issuer_code": FUZHOU_INSTITUTION, **SAFETY}
    pipeline.received["today"] = dt.date(2020, 6, 10)
    r = await pipeline.reg.post("/v1/certificates", json=body, headers=fuzhou)
    assert r.status_code == 201, r.text
    assert r.json()["issued_in_nantong"] is False  # nobody said so: the issuer's code did
    elsewhere = await pipeline.decision(r.json()["certificate_id"], "rejected")
    assert elsewhere["clause"] == "六" and "not_obtained_in_nantong" in codes_of(elsewhere)
    assert "十三.2" in elsewhere["clauses_cited"]
    # the same operation item from the Nantong institution is paid: the check reads the issuer
    here = await pipeline.certificate(rid, "TZ-3206-2020-000601", **SAFETY, issue_date="2020-06-20")
    assert (await pipeline.decision(here, "approved"))["amount_fen"] == 30000


async def test_13_2_an_issuer_claiming_nantong_against_its_credit_code_is_refused_naming_the_field(
        pipeline: Pipeline) -> None:
    fuzhou = await pipeline.institution_client("fuzhou-claims-nantong", FUZHOU_INSTITUTION)
    body = {"number": "TZ-3501-2020-000602", "resident_id": resident_id(602), "issue_date": "2020-05-20",
            "issuer_code": FUZHOU_INSTITUTION, "issued_in_nantong": True, **SAFETY}
    r = await pipeline.reg.post("/v1/certificates", json=body, headers=fuzhou)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["issued_in_nantong"]
    assert "350100" in r.text
    cid = uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:certificate:{body['number']}")  # as the registry derives it
    got = await pipeline.reg.get(f"/v1/certificates/{cid}", headers=await pipeline.auth("demo-bureau"))
    assert got.status_code == 404  # nothing written


async def test_4_5b_an_employer_registered_outside_nantong_is_refused(pipeline: Pipeline) -> None:
    number = "1032012020000603"
    rid = await degree_holder(pipeline, 603, number)
    await pipeline.employed(rid, employer=BEIJING_EMPLOYER)
    await pipeline.fact(rid, "pension_insurance_months", "2020-01-01", months=24, insured_region=TONGZHOU)
    d = await pipeline.decision(await degree(pipeline, rid, number), "rejected")
    assert d["clause"] == "四.5b" and codes_of(d) == {"not_employed_and_insured_in_nantong"}


async def test_4_5b_pension_insurance_outside_nantong_is_refused(pipeline: Pipeline) -> None:
    number = "1032012020000604"
    rid = await degree_holder(pipeline, 604, number)
    await pipeline.employed(rid)
    await pipeline.fact(rid, "pension_insurance_months", "2020-01-01", months=24, insured_region=NANJING)
    d = await pipeline.decision(await degree(pipeline, rid, number), "rejected")
    assert d["clause"] == "四.5b" and codes_of(d) == {"pension_insured_outside_nantong"}


async def test_4_5b_without_an_employment_record_is_held_naming_it_then_decided_when_it_arrives(
        pipeline: Pipeline) -> None:
    number = "1032012020000605"
    rid = await degree_holder(pipeline, 605, number)
    await pipeline.fact(rid, "pension_insurance_months", "2020-01-01", months=24, insured_region=TONGZHOU)
    cid = await degree(pipeline, rid, number)
    held = await pipeline.decision(cid, "rejected")
    assert held["clause"] == "四.5b" and codes_of(held) == {"employer_unknown"}
    await pipeline.employed(rid)
    approved = await pipeline.decision(cid, "approved")
    assert (approved["clause"], approved["amount_fen"]) == ("四.5b", 100000)


async def test_4_5b_without_a_pension_record_is_held_naming_it_then_decided_when_it_arrives(
        pipeline: Pipeline) -> None:
    number = "1032012020000606"
    rid = await degree_holder(pipeline, 606, number)
    await pipeline.employed(rid)
    cid = await degree(pipeline, rid, number)
    held = await pipeline.decision(cid, "rejected")
    # the insuring region is what is missing; zero months is not a finding while no record exists
    assert held["clause"] == "四.5b" and codes_of(held) == {"pension_insured_place_unknown"}
    await pipeline.fact(rid, "pension_insurance_months", "2020-01-01", months=24, insured_region=TONGZHOU)
    assert (await pipeline.decision(cid, "approved"))["amount_fen"] == 100000


async def _refused(p: Pipeline, rid: str, kind: str, **attributes: Any) -> dict[str, Any]:
    feeder = "employment_service" if kind == "employment" else "social_insurance"
    r = await p.reg.post("/v1/facts", json={"resident_id": rid, "kind": kind, "valid_from": "2020-01-01",
                                            "attributes": attributes}, headers=await p.auth(f"demo-feeder-{feeder}"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


async def test_a_feeder_record_that_cannot_say_where_is_refused_naming_the_field(pipeline: Pipeline) -> None:
    rid = resident_id(607)
    no_region = await _refused(pipeline, rid, "pension_insurance_months", months=24)
    assert [e["field"] for e in no_region["errors"]] == ["attributes.insured_region"]
    local_number = await _refused(pipeline, rid, "employment", employer_code="320612-0000607", hire_date="2020-01-01")
    assert [e["field"] for e in local_number["errors"]] == ["attributes.employer_in_nantong"]
    contradicts = await _refused(pipeline, rid, "employment", employer_code=BEIJING_EMPLOYER, hire_date="2020-01-01",
                                 employer_in_nantong=True)
    assert [e["field"] for e in contradicts["errors"]] == ["attributes.employer_in_nantong"]
