"""Public notice (公示), the whole way: a certificate pushed at the registry is approved by
eligibility, published with masked data, objected to by anyone, reviewed, and payable only after
its period of working days; the day the notice starts and "today" are test clocks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.eligibility.pipeline import Pipeline, resident_id, skill_number

MILL = "6-18-01-04"
STD = 140000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, dt.date]:
    """Eligibility's day: the approval (notice publication) day and the day notices are ended on."""
    day = {"today": dt.date(2020, 9, 30)}
    for module in ("services.eligibility.write", "services.eligibility.notices"):
        monkeypatch.setattr(f"{module}.nantong_today", lambda: day["today"])
    return day


async def approved(pipeline: Pipeline, seq: int, name: str) -> tuple[str, dict[str, Any]]:
    rid = resident_id(seq)
    await pipeline.catalog(f"s-notice-{seq}", MILL)
    await pipeline.employed(rid, hire="2020-02-15")
    cid = await pipeline.certificate(rid, skill_number(4, seq), occupation_code=MILL, training_kind="pre_job",
                                     training_start_date="2020-03-01", holder_name=name)
    return rid, await pipeline.decision(cid, "approved")


async def end_due(pipeline: Pipeline) -> int:
    r = await pipeline.eli.post("/v1/notices/end-due", headers=await pipeline.auth("demo-bureau"))
    assert r.status_code == 200, r.text
    return int(r.json()["payable"])


async def ended_events(pipeline: Pipeline, decision_id: str) -> list[dict[str, Any]]:
    runtime = pipeline.eli._transport.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.maker() as s:
        rows = await s.execute(sa.text(
            "SELECT envelope FROM outbox WHERE envelope->>'type' = 'eligibility.notice.ended'"
            " AND envelope->'payload'->>'decision_id' = :d"), {"d": decision_id})
        return [r[0] for r in rows]


async def test_an_approval_on_2020_09_30_is_published_masked_and_payable_after_national_day(
        pipeline: Pipeline, clock: dict[str, dt.date]) -> None:
    rid, d = await approved(pipeline, 701, "张三丰")
    assert (d["clause"], d["amount_fen"]) == ("四.2", STD // 2)
    notice = (await pipeline.eli.get(f"/v1/public/notices/{d['decision_id']}")).json()  # no token needed
    assert (notice["published_on"], notice["ends_on"], notice["working_days"]) == ("2020-09-30", "2020-10-14", 5)
    assert (notice["name_masked"], notice["id_last4"], notice["amount_fen"]) == ("张**", rid[-4:], STD // 2)
    assert (notice["occupation_code"], notice["level"], notice["institution_code"]) == (MILL, 4, "52320613MJ0000003P")
    assert rid not in str(notice) and "person_key" not in notice and "三丰" not in str(notice)
    clock["today"] = dt.date(2020, 10, 14)  # the period's last working day: still in notice
    listed = (await pipeline.eli.get("/v1/public/notices", params={"limit": 500})).json()
    assert d["decision_id"] in {n["decision_id"] for n in listed}
    assert await end_due(pipeline) == 0 and await ended_events(pipeline, d["decision_id"]) == []
    clock["today"] = dt.date(2020, 10, 15)
    assert await end_due(pipeline) >= 1
    (event,) = await ended_events(pipeline, d["decision_id"])
    assert (event["version"], event["payload"]["amount_fen"], event["payload"]["notice_ended_on"]) == (
        1, STD // 2, "2020-10-14")
    assert (await pipeline.eli.get(f"/v1/public/notices/{d['decision_id']}")).json()["status"] == "ended"
    assert await end_due(pipeline) == 0 and len(await ended_events(pipeline, d["decision_id"])) == 1


async def test_an_objection_sends_the_decision_to_review_and_holds_payment_until_resolved(
        pipeline: Pipeline, clock: dict[str, dt.date]) -> None:
    clock["today"] = dt.date(2020, 6, 5)  # Friday: the period runs 06-08 .. 06-12
    _, d = await approved(pipeline, 702, "李四")
    url = f"/v1/public/notices/{d['decision_id']}/objections"
    bad = await pipeline.eli.post(url, json={"contact": "call me", "reason": "他并未参加培训，证书是买来的"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "contact"
    short = await pipeline.eli.post(url, json={"contact": "13912345678", "reason": "不对"})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "reason"
    ok = await pipeline.eli.post(url, json={"contact": "13912345678", "reason": "他并未参加培训，证书是买来的"})
    assert ok.status_code == 201, ok.text
    reviews = (await pipeline.eli.get("/v1/reviews", headers=await pipeline.auth("demo-bureau"))).json()
    (rv,) = [r for r in reviews if r["decision_id"] == d["decision_id"]]
    assert rv["origin"] == "objection" and "13912345678" not in str(reviews)
    clock["today"] = dt.date(2020, 6, 20)
    assert await end_due(pipeline) == 0 and await ended_events(pipeline, d["decision_id"]) == []
    late = await pipeline.eli.post(url, json={"contact": "a@b.cn", "reason": "期满之后的异议也要登记吗？"})
    assert late.status_code == 409 and late.json()["errors"][0]["field"] == "decision_id"
    resolved = await pipeline.eli.post(f"/v1/reviews/{rv['review_id']}/resolution", json={
        "action": "approve", "amount_fen": STD // 2, "reason": "核实培训签到与考核记录，异议不成立"},
        headers=await pipeline.auth("demo-bureau"))
    assert resolved.status_code == 200, resolved.text
    upheld = resolved.json()["decision_id"]
    kept = (await pipeline.eli.get(f"/v1/public/notices/{upheld}")).json()
    assert (kept["published_on"], kept["ends_on"], kept["status"]) == ("2020-06-05", "2020-06-12", "in_notice")
    assert await end_due(pipeline) >= 1
    assert len(await ended_events(pipeline, str(upheld))) == 1
    assert await ended_events(pipeline, d["decision_id"]) == []


async def test_an_objection_to_a_decision_without_notice_is_404_naming_it(pipeline: Pipeline) -> None:
    r = await pipeline.eli.post("/v1/public/notices/6f1e7e1c-3d0b-4f55-9b0e-0d9b1f1c2a3b/objections",
                                json={"contact": "0513-85123456", "reason": "公示名单里没有这个人的培训记录"})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "decision_id"


async def test_a_notice_reaching_a_year_the_calendar_does_not_know_waits_and_metrics_say_so(
        pipeline: Pipeline, clock: dict[str, dt.date], monkeypatch: pytest.MonkeyPatch) -> None:
    """Approved on 28 December of the last year the installed calendar knows: five working days
    reach January, whose holidays are not published yet. The notice waits (never a guessed last
    day), and /metrics carries what the two calendar alerts read (deploy/observability/alerts.yml)."""
    from chinese_calendar import constants

    known = max(constants.holidays).year
    clock["today"] = dt.date(known, 12, 28)
    monkeypatch.setattr("services.eligibility.main.nantong_today", lambda: clock["today"])
    _, d = await approved(pipeline, 705, "李四")
    notice = (await pipeline.eli.get(f"/v1/public/notices/{d['decision_id']}")).json()
    assert (notice["status"], notice["ends_on"]) == ("awaiting_calendar", None)
    metrics = (await pipeline.eli.get("/metrics")).text
    assert "skillsub_notice_calendar_days_ahead 3.0" in metrics  # 28 → 31 December
    waiting = [line for line in metrics.splitlines() if line.startswith("skillsub_notices_awaiting_calendar ")]
    assert waiting and float(waiting[0].split()[1]) >= 1
    assert await end_due(pipeline) == 0  # nothing to end: its last day is unknown
