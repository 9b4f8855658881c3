"""九 / 十七, the whole way: the bureau publishes the catalogue of training and evaluation
institutions at the registry (four eyes, public read); a certificate whose training an unlisted
institution delivered is refused citing 九/十七, and approved once the bureau lists it."""

from __future__ import annotations

from tests.integration.eligibility.pipeline import (
    INSTITUTION,
    Pipeline,
    codes_of,
    credit_code,
    resident_id,
    skill_number,
)
from tests.integration.registry.registry_helpers import auth

MILL = "6-18-01-04"
GRINDER = "6-18-01-07"
STD = 140000


async def test_training_by_an_institution_not_listed_for_the_occupation_is_refused_until_it_is(
        pipeline: Pipeline) -> None:
    await pipeline.catalog("s-inst-0", MILL)  # the demo institution is catalogued for the mill trade
    row = {"occupation_code": GRINDER, "occupation_edition": "2015", "occupation_name": "示例工种", "level": 4,
           "training_fen": 120000, "appraisal_fen": 20000, "valid_from": "2019-01-01"}
    await pipeline.publish("/v1/catalog/versions", json={"catalog_version": "s-inst-1", "standards": [row]})
    rid = resident_id(801)
    await pipeline.employed(rid, hire="2020-02-15")
    cid = await pipeline.certificate(rid, skill_number(4, 801), occupation_code=GRINDER,
                                     training_kind="pre_job", training_start_date="2020-03-01")
    refused = await pipeline.decision(cid, "rejected")
    assert refused["clause"] == "四.2" and "institution_not_listed_for_occupation" in codes_of(refused)
    assert "九、十七" in str(refused["reasons"])
    pipeline.listed.add((GRINDER, "2015"))
    await pipeline.list_institution("inst-91", INSTITUTION, sorted(pipeline.listed), credit_rating="B")
    approved = await pipeline.decision(cid, "approved")
    assert (approved["clause"], approved["amount_fen"]) == ("四.2", STD // 2)
    assert {"九", "十七"} <= set(approved["clauses_cited"])
    public = (await pipeline.reg.get("/v1/catalog/institutions", params={"institution_code": INSTITUTION})).json()
    assert public[0]["listing_version"] == "inst-91" and public[0]["credit_rating"] == "B"  # latest first


async def test_the_institution_catalogue_needs_a_second_officer_and_names_a_bad_field(pipeline: Pipeline) -> None:
    bureau = await auth(pipeline.reg, "demo-bureau")
    bad = await pipeline.reg.post("/v1/catalog/institutions", headers=bureau, json={
        "listing_version": "inst-bad", "entries": [{
            "institution_code": "not-a-code-at-all!", "valid_from": "2020-01-01",
            "occupations": [{"occupation_code": MILL}]}]})
    assert bad.status_code == 422 and "institution_code" in bad.json()["errors"][0]["field"]
    body = {"listing_version": "inst-92", "entries": [{"institution_code": credit_code(92), "valid_from": "2020-01-01",
                                                       "occupations": [{"occupation_code": MILL, "levels": [4]}]}]}
    submitted = await pipeline.reg.post("/v1/catalog/institutions", headers=bureau, json=body)
    assert submitted.status_code == 202, submitted.text
    same = await pipeline.reg.post(f"/v1/catalog/approvals/{submitted.json()['approval_id']}", headers=bureau)
    assert same.status_code in (403, 409)  # the submitter cannot approve their own upload
    assert (await pipeline.reg.get("/v1/catalog/institutions", params={"institution_code": credit_code(92)})
            ).json() == []
    approved = await pipeline.reg.post(f"/v1/catalog/approvals/{submitted.json()['approval_id']}",
                                       headers=await auth(pipeline.reg, "demo-bureau-2"))
    assert approved.status_code == 201, approved.text
    listed = (await pipeline.reg.get("/v1/catalog/institutions", params={"on": "2020-06-01"})).json()
    assert credit_code(92) in {e["institution_code"] for e in listed}
