"""Waiting for facts and the application window, the whole way through registry REST and
eligibility: a certificate arriving before its holder's facts is `pending` for waiting.facts_days,
then decided on what is known; a certificate received more than 四.4.apply_within_months after its
issue is refused as late, the receipt day being the registry's unless the bureau migrates earlier
years with their original receipt days (bureau only, audited)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.integration.eligibility.pipeline import Pipeline, codes_of, resident_id, skill_number
from tests.integration.registry.registry_helpers import auth

MILL = "6-18-01-04"
STD = 140000


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> dict[str, dt.date]:
    """Eligibility's decision day (the registry's receipt day is the pipeline's clock)."""
    day = {"today": dt.date(2020, 6, 20)}
    for module in ("services.eligibility.load", "services.eligibility.api_notice", "services.eligibility.notices"):
        monkeypatch.setattr(f"{module}.nantong_today", lambda: day["today"], raising=False)
    return day


async def test_a_certificate_before_its_holders_facts_is_pending_then_decided(
        pipeline: Pipeline, today: dict[str, dt.date]) -> None:
    await pipeline.catalog("s-wait-1", MILL)
    rid = resident_id(951)
    cid = await pipeline.certificate(rid, skill_number(4, 951), occupation_code=MILL, issue_date="2020-06-01",
                                     received=dt.date(2020, 6, 10))
    d = await pipeline.decision(cid, "pending")
    assert d["amount_fen"] == 0 and d["pending_until"] == "2020-07-10" and "awaiting_holder_facts" in codes_of(d)
    later = resident_id(952)  # the same, but its wait runs out before any fact arrives
    late_cid = await pipeline.certificate(later, skill_number(4, 952), occupation_code=MILL,
                                          issue_date="2020-06-01", received=dt.date(2020, 6, 10))
    await pipeline.decision(late_cid, "pending")
    await pipeline.employed(rid, hire="2020-02-15")  # the fact arrives within the wait: decided at once
    await pipeline.fact(rid, "unemployment_insurance_months", "2020-06-01", months=18)
    assert (await pipeline.decision(cid, "approved"))["amount_fen"] == STD // 2
    today["today"] = dt.date(2020, 7, 11)
    r = await pipeline.eli.post("/v1/pending/expire-due", headers=await pipeline.auth("demo-bureau"))
    assert r.status_code == 200 and r.json()["persons"] >= 1
    refused = await pipeline.decision(late_cid, "rejected")
    assert "awaiting_holder_facts" not in codes_of(refused) and "not_employed" in str(refused)


async def test_a_certificate_received_after_the_window_is_refused_as_late_citing_the_parameter(
        pipeline: Pipeline, today: dict[str, dt.date]) -> None:
    await pipeline.catalog("s-window-1", MILL)
    rid = resident_id(961)
    await pipeline.employed(rid, hire="2018-01-01")
    await pipeline.fact(rid, "unemployment_insurance_months", "2019-01-01", months=18)
    cid = await pipeline.certificate(rid, skill_number(4, 961), occupation_code=MILL, issue_date="2019-03-01",
                                     received=dt.date(2020, 3, 2))  # 12 months and a day
    d = await pipeline.decision(cid, "rejected", "四.4")
    assert "applied_after_window" in codes_of(d) and "四.4.apply_within_months@v1" in d["parameter_versions"]


async def test_only_the_bureau_imports_earlier_years_with_their_original_receipt_days(
        pipeline: Pipeline, today: dict[str, dt.date]) -> None:
    await pipeline.catalog("s-window-2", MILL)
    rid = resident_id(962)
    await pipeline.employed(rid, hire="2018-01-01")
    await pipeline.fact(rid, "unemployment_insurance_months", "2019-01-01", months=18)
    line = {"number": skill_number(4, 962), "kind": "skill_level", "resident_id": rid, "occupation_code": MILL,
            "level": 4, "issue_date": "2019-03-01", "issuer_code": "52320613MJ0000003P", "district": "320612",
            "received_on": "2019-04-01"}
    body = (json.dumps(line) + "\n").encode()
    ndjson = {"content-type": "application/x-ndjson"}
    pipeline.received["today"] = dt.date(2020, 6, 1)  # the day of the migration
    claimed = await pipeline.reg.post("/v1/bulk/certificates", content=body,
                                      headers=await pipeline.auth("demo-institution") | ndjson)
    (result,) = [json.loads(x) for x in claimed.text.splitlines()]
    assert result["status"] == "error" and result["field"] == "received_on"  # the sender's claim is refused
    forbidden = await pipeline.reg.post("/v1/bulk/certificates/historic", content=body,
                                        headers=await pipeline.auth("demo-institution") | ndjson)
    assert forbidden.status_code == 403
    migrated = await pipeline.reg.post("/v1/bulk/certificates/historic", content=body,
                                       headers=await pipeline.auth("demo-bureau") | ndjson)
    assert migrated.status_code == 200 and migrated.headers["X-Lines-Ok"] == "1", migrated.text
    (row,) = [json.loads(x) for x in migrated.text.splitlines()]
    d = await pipeline.decision(row["id"], "approved", "四.4")
    assert "applied_after_window" not in codes_of(d) and d["trigger"]["received_on"] == "2019-04-01"
    log = (await pipeline.reg.get("/v1/audit", params={"limit": 1000},
                                  headers=await auth(pipeline.reg, "demo-auditor"))).json()
    assert any(e["actor"] == "demo-bureau" and e["action"] == "POST /v1/bulk/certificates/historic" for e in log)


async def test_a_refusal_only_for_a_record_not_yet_in_waits_naming_it_then_is_decided_when_it_arrives(
        pipeline: Pipeline, today: dict[str, dt.date]) -> None:
    """A worker with a Nantong employer but no pension record yet (the insurance feeder is behind):
    四.5b cannot tell where the person is insured. Within the wait that is `pending` naming the
    record, not a refusal that flips to an approval; the record arrives and it is decided."""
    today["today"] = dt.date(2020, 7, 25)
    number = "1032012020000971"
    rid = resident_id(971)
    await pipeline.fact(rid, "degree_record", "2020-07-01", certificate_number=number, study_mode="adult",
                        education_level="associate")
    await pipeline.employed(rid, hire="2018-01-01")
    cid = await pipeline.certificate(rid, number, kind="degree", occupation_code=None, level=None,
                                     issue_date="2020-07-01", received=dt.date(2020, 7, 21))
    held = await pipeline.decision(cid, "pending")
    assert held["amount_fen"] == 0 and held["pending_until"] == "2020-08-20"
    assert codes_of(held) == {"awaiting_record", "pension_insured_place_unknown"}
    await pipeline.fact(rid, "pension_insurance_months", "2020-01-01", months=24, insured_region="320612")
    approved = await pipeline.decision(cid, "approved")
    assert (approved["clause"], approved["amount_fen"]) == ("四.5b", 100000)
