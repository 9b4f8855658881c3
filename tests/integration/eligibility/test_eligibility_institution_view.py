"""An institution reads the outcomes of what it pushed — never another institution's, never the
person's facts: a certificate pushed at the registry, decided by eligibility, read back with the
institution's own token."""

from __future__ import annotations

import uuid

from tests.integration.eligibility.pipeline import Pipeline, credit_code, resident_id, skill_number
from tests.integration.registry.registry_helpers import auth

MILL = "6-18-01-04"
STD = 140000
PRIVATE = {"facts_used", "facts_as_of", "explanation_zh", "explanation_en", "person_key", "payee_ref", "steps",
           "target_groups", "hire_key"}


async def other_institution(pipeline: Pipeline) -> dict[str, str]:
    admin = await auth(pipeline.reg, "demo-security-admin")
    made = await pipeline.reg.post("/v1/clients", headers=admin, json={
        "client_id": "school-93", "role": "institution", "institution_id": credit_code(93)})
    assert made.status_code == 201, made.text
    r = await pipeline.reg.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": "school-93",
                                                         "client_secret": made.json()["client_secret"]})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_an_institution_reads_its_own_outcomes_without_the_persons_facts_and_never_anothers(
        pipeline: Pipeline) -> None:
    await pipeline.catalog("s-view-1", MILL)
    rid = resident_id(901)
    await pipeline.employed(rid, hire="2020-02-15")
    cid = await pipeline.certificate(rid, skill_number(4, 901), occupation_code=MILL, training_kind="pre_job",
                                     training_start_date="2020-03-01", holder_name="王小二")
    decided = await pipeline.decision(cid, "approved")
    mine = await pipeline.eli.get(f"/v1/institution/triggers/{cid}/decisions",
                                  headers=await pipeline.auth("demo-institution"))
    assert mine.status_code == 200, mine.text
    (d,) = mine.json()
    assert (d["decision_id"], d["clause"], d["outcome"], d["amount_fen"]) == (
        decided["decision_id"], "四.2", "approved", STD // 2)
    assert d["notice"]["status"] == "in_notice" and d["payments"] == []
    assert d["certificate_number"] == skill_number(4, 901) and "四.2" in d["clauses_cited"]
    assert not PRIVATE & d.keys() and rid not in str(d) and "employer" not in str(d)
    listed = (await pipeline.eli.get("/v1/institution/decisions", params={"limit": 1000},
                                     headers=await pipeline.auth("demo-institution"))).json()
    assert decided["decision_id"] in {x["decision_id"] for x in listed}
    stranger = await other_institution(pipeline)
    refused = await pipeline.eli.get(f"/v1/institution/triggers/{cid}/decisions", headers=stranger)
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "trigger_id"
    theirs = (await pipeline.eli.get("/v1/institution/decisions", params={"limit": 1000}, headers=stranger)).json()
    assert decided["decision_id"] not in {x["decision_id"] for x in theirs}
    unknown = await pipeline.eli.get(f"/v1/institution/triggers/{uuid.uuid4()}/decisions", headers=stranger)
    assert unknown.status_code == 404
    feeder = await pipeline.eli.get("/v1/institution/decisions", headers=await pipeline.auth(
        "demo-feeder-employment_service"))
    assert feeder.status_code == 403
