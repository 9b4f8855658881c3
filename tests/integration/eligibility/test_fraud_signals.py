"""Fraud signals (十四) the whole way: institutions and feeders push through the registry's REST API,
eligibility finds the pattern, the signal waits in the review queue with its evidence (the decision
is not rejected for it), counts on /metrics, and a bureau reviewer's resolution moves the
institution's credit rating (十七)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.integration.eligibility.eligibility_helpers import eventually
from tests.integration.eligibility.pipeline import (
    INSTITUTION,
    Pipeline,
    credit_code,
    resident_id,
    skill_number,
)

ND = {"Content-Type": "application/x-ndjson"}


async def signals(p: Pipeline, kind: str, status: str = "open") -> list[dict[str, Any]]:
    r = await p.eli.get("/v1/fraud-signals", params={"kind": kind, "status": status},
                        headers=await p.auth("demo-auditor"))
    assert r.status_code == 200, r.text
    return list(r.json())


async def signal_of(p: Pipeline, kind: str, match: Any) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        return next((s for s in await signals(p, kind) if match(s)), None)
    return dict(await eventually(found, timeout=45))


def cert_body(rid: str, number: str, issuer: str = INSTITUTION, **fields: Any) -> dict[str, Any]:
    return {"number": number, "kind": "skill_level", "resident_id": rid, "occupation_code": "6-18-01-01",
            "level": 4, "issue_date": "2020-05-20", "issuer_code": issuer, "district": "320612"} | fields


async def test_a_certificate_issued_before_its_class_ended_is_queued_for_review_not_rejected(
        pipeline: Pipeline) -> None:
    rid = resident_id(701)
    await pipeline.employed(rid)
    await pipeline.fact(rid, "unemployment_insurance_months", "2019-01-01", months=30)
    k = await pipeline.klass("FRAUD-EARLY-1", "upgrading", start_date="2020-03-01", end_date="2020-05-31")
    cid = await pipeline.certificate(rid, skill_number(4, 701), class_id=k, issue_date="2020-05-20")
    got = await signal_of(pipeline, "issued_before_class_end", lambda s: s["evidence"]["certificate_id"] == cid)
    assert got["evidence"] | {"certificate_id": cid} == {
        "certificate_id": cid, "issue_date": "2020-05-20", "class_id": k, "class_end_date": "2020-05-31",
        "class_institution": INSTITUTION}
    assert got["institution_code"] == INSTITUTION and got["status"] == "open"
    assert got["parameter_versions"]["fraud.volume.factor"] == "v1-example"
    decision = await pipeline.decision(cid)
    assert "fraud" not in json.dumps(decision["reasons"]), decision["reasons"]  # a signal never decides


async def test_one_person_in_two_overlapping_classes_is_queued_with_both_classes(pipeline: Pipeline) -> None:
    rid = resident_id(702)
    a = await pipeline.klass("FRAUD-OVL-A", "upgrading", start_date="2020-03-01", end_date="2020-04-30")
    b = await pipeline.klass("FRAUD-OVL-B", "upgrading", start_date="2020-04-15", end_date="2020-06-15")
    await pipeline.completion(rid, a, completed_on="2020-04-30")
    await pipeline.completion(rid, b, completed_on="2020-06-15")
    got = await signal_of(pipeline, "overlapping_classes",
                          lambda s: {c["class_id"] for c in s["evidence"]["classes"]} == {a, b})
    assert (got["evidence"]["overlap_from"], got["evidence"]["overlap_to"]) == ("2020-04-15", "2020-04-30")
    assert got["person_key"] == await pipeline.person_key(rid)


async def test_one_person_certified_by_two_institutions_on_one_day_is_queued(pipeline: Pipeline) -> None:
    other = credit_code(2)
    inst_b = await pipeline.institution_client("fraud-inst-b", other)
    rid = resident_id(703)
    await pipeline.certificate(rid, skill_number(4, 703), issue_date="2020-07-01")
    r = await pipeline.reg.post("/v1/certificates", headers=inst_b, json=cert_body(
        rid, skill_number(3, 704), issuer=other, level=3, occupation_code="6-18-01-02", issue_date="2020-07-01"))
    assert r.status_code == 201, r.text
    got = await signal_of(pipeline, "same_day_two_institutions", lambda s: s["evidence"]["issue_date"] == "2020-07-01")
    assert got["evidence"]["institutions"] == sorted([INSTITUTION, other])


async def test_a_month_far_above_the_institutions_own_history_is_queued(pipeline: Pipeline) -> None:
    code = credit_code(3)
    inst = await pipeline.institution_client("fraud-inst-c", code)
    lines = [cert_body(resident_id(710 + m), skill_number(4, 710 + m), issuer=code, issue_date=f"2020-0{m}-10")
             for m in (1, 2, 3)]  # one a month of its own history
    lines += [cert_body(resident_id(720 + i), skill_number(4, 720 + i), issuer=code, issue_date="2020-04-10")
              for i in range(21)]  # then 21 in April: more than 3 x its mean of 1
    pipeline.received["today"] = pipeline.received["today"].replace(year=2020, month=4, day=20)
    r = await pipeline.reg.post("/v1/bulk/certificates", headers=inst | ND,
                                content="\n".join(json.dumps(x) for x in lines).encode())
    assert r.status_code == 200 and r.text.count('"created"') == 24, r.text
    got = await signal_of(pipeline, "volume_spike", lambda s: s["institution_code"] == code)
    assert got["evidence"] | {"history_mean": "1"} == {
        "month": "2020-04", "certificates": 21, "history": {"2020-01": 1, "2020-02": 1, "2020-03": 1},
        "history_mean": "1", "factor": "3"}


async def test_trainees_sharing_one_phone_are_queued_without_the_number_anywhere(
        pipeline: Pipeline, caplog: Any) -> None:
    inst = await pipeline.auth("demo-institution")
    phones = ["138-0013-8000", "+86 13800138000", "13800138000", "008613800138000"]
    for i, phone in enumerate(phones[:3]):
        r = await pipeline.reg.post("/v1/trainee-contacts", headers=inst, json={
            "resident_id": resident_id(730 + i), "phone": phone, "bank_account": f"62220215000000{730 + i}"})
        assert r.status_code == 202 and "13800138000" not in r.text, r.text
    got = await signal_of(pipeline, "shared_contact", lambda s: s["evidence"]["contact_kind"] == "phone")
    assert got["evidence"]["trainees"] == 3 and got["institution_code"] == INSTITUTION
    # A fourth trainee on the same phone: the open signal's evidence follows.
    await pipeline.reg.post("/v1/trainee-contacts", headers=inst, json={"resident_id": resident_id(733),
                                                                        "phone": phones[3]})
    await signal_of(pipeline, "shared_contact", lambda s: s["evidence"]["trainees"] == 4)
    # The bank accounts differ (one each): no signal for them.
    assert [s["evidence"]["contact_kind"] for s in await signals(pipeline, "shared_contact")] == ["phone"]
    everything = json.dumps(await signals(pipeline, "shared_contact")) + caplog.text
    assert "13800138000" not in everything and "6222021500000073" not in everything
    bad = await pipeline.reg.post("/v1/trainee-contacts", headers=inst, json={"resident_id": resident_id(734),
                                                                              "phone": "12345"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone" and "12345" not in bad.text
    feeder = await pipeline.reg.post("/v1/trainee-contacts", headers=await pipeline.auth("demo-feeder-education"),
                                     json={"resident_id": resident_id(734), "phone": phones[0]})
    assert feeder.status_code == 403


async def test_signals_count_on_metrics_and_a_reviewers_resolution_moves_the_credit_rating(pipeline: Pipeline) -> None:
    rid = resident_id(760)
    k = await pipeline.klass("FRAUD-EARLY-2", "upgrading", start_date="2020-08-01", end_date="2020-09-30")
    cid = await pipeline.certificate(rid, skill_number(4, 760), class_id=k, issue_date="2020-09-01")
    sig = await signal_of(pipeline, "issued_before_class_end", lambda s: s["evidence"]["certificate_id"] == cid)
    metrics = (await pipeline.eli.get("/metrics")).text
    line = re.search(r'skillsub_fraud_signals\{kind="issued_before_class_end",status="open"\} (\S+)', metrics)
    assert line is not None and float(line.group(1)) >= 1
    rating_before = await rating(pipeline)
    auditor = await pipeline.eli.post(f"/v1/fraud-signals/{sig['signal_id']}/resolution",
                                      headers=await pipeline.auth("demo-auditor"),
                                      json={"action": "confirm", "reason": "课程未结束即发证"})
    assert auditor.status_code == 403
    done = await pipeline.eli.post(f"/v1/fraud-signals/{sig['signal_id']}/resolution",
                                   headers=await pipeline.auth("demo-bureau"),
                                   json={"action": "confirm", "reason": "课程未结束即发证，经核实"})
    assert done.status_code == 200 and done.json()["status"] == "confirmed", done.text
    assert done.json()["resolved_by"] == "demo-bureau"
    again = await pipeline.eli.post(f"/v1/fraud-signals/{sig['signal_id']}/resolution",
                                    headers=await pipeline.auth("demo-bureau"),
                                    json={"action": "dismiss", "reason": "重复处理"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "signal_id"
    after = await rating(pipeline)
    assert after["confirmed_signals"] == rating_before["confirmed_signals"] + 1
    assert after["score"] == rating_before["score"] - 20 + 5  # one open signal (-5) became confirmed (-20)
    audit = await pipeline.eli.get("/v1/audit", params={"limit": 1000}, headers=await pipeline.auth("demo-auditor"))
    assert any(e["action"] == "POST /v1/fraud-signals/{signal_id}/resolution" and e["actor"] == "demo-bureau"
               for e in audit.json()), audit.text[:500]
    unknown = await pipeline.eli.post("/v1/fraud-signals/00000000-0000-0000-0000-000000000000/resolution",
                                      headers=await pipeline.auth("demo-bureau"),
                                      json={"action": "dismiss", "reason": "无此信号"})
    assert unknown.status_code == 404


async def rating(p: Pipeline) -> dict[str, Any]:
    r = await p.eli.get("/v1/credit-ratings", params={"institution_code": INSTITUTION},
                        headers=await p.auth("demo-bureau"))
    assert r.status_code == 200, r.text
    assert r.json()["parameter_versions"]["credit.bands"] == "v1-example"
    return dict(r.json()["institutions"][0])
