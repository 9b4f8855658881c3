"""Review queue, PIPL review requests, dry run, what-if, parameter versions, and the 十三.1 cap with
two eligibility instances in one consumer group."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from services.eligibility.main import create_app
from services.eligibility.params import PARAMETERS_FILE
from tests.conftest import FreshBearer, serve
from tests.integration.eligibility.eligibility_helpers import (
    LATHE,
    catalog,
    certificate,
    current,
    employment,
    eventually,
    inbox_count,
    publish,
    token,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")
READER = FreshBearer("demo-auditor", "auditor")


async def first_decision(client: Any, trigger: uuid.UUID) -> dict[str, Any] | None:
    r = await client.get(f"/v1/certificates/{trigger}/decisions", headers=READER)
    return r.json()[0] if r.status_code == 200 else None


async def test_a_reviewer_resolves_pending_and_requested_reviews_within_the_cap(settings) -> None:
    reviewer, person_side = token(settings, "bureau", "rev-li"), token(settings, "feeder", "rep-system")
    pending, pid = certificate("pk-rv", 1, code="NOCAT", training_kind="enterprise_non_catalog")
    rejected, rid = certificate("pk-rv", 2, issued="2020-06-01")  # 四.4 without insurance months
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment("pk-rv"), pending, rejected])
        auto = await eventually(lambda: first_decision(eli, pid))
        refused = await eventually(lambda: first_decision(eli, rid))
        assert (auto["outcome"], refused["outcome"]) == ("needs_review", "rejected")
        assert (await eli.get("/v1/reviews")).status_code == 401
        queue = (await eli.get("/v1/reviews", headers=reviewer)).json()
        assert [q["decision_id"] for q in queue] == [auto["decision_id"]]

        done = await eli.post(f"/v1/reviews/{queue[0]['review_id']}/resolution", headers=reviewer,
                              json={"action": "approve", "amount_fen": 56000, "reason": "invoices checked"})
        assert done.status_code == 200, done.text
        now = await first_decision(eli, pid)
        assert (now["outcome"], now["amount_fen"], now["supersedes"]) == ("approved", 56000, auto["decision_id"])
        assert now["review"]["by"] == "rev-li" and "invoices checked" in now["explanation_zh"]

        asked = await eli.post(f"/v1/decisions/{refused['decision_id']}/review-requests", headers=person_side,
                               json={"reason": "my contributions were paid in another city"})
        assert asked.status_code == 201, asked.text
        review_id = asked.json()["review_id"]
        too_much = await eli.post(f"/v1/reviews/{review_id}/resolution", headers=reviewer,
                                  json={"action": "approve", "amount_fen": 91001, "reason": "x"})
        # the most is 140000 × 1/2 × 1.3
        assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amount_fen"
        ok = await eli.post(f"/v1/reviews/{review_id}/resolution", headers=reviewer,
                            json={"action": "approve", "amount_fen": 70000, "reason": "transfer record seen"})
        assert ok.status_code == 200, ok.text
        assert (await first_decision(eli, rid))["outcome"] == "approved"
        not_reviewer = await eli.post(f"/v1/reviews/{review_id}/resolution", headers=person_side,
                                      json={"action": "reject", "reason": "x"})
        assert not_reviewer.status_code == 403


async def test_dry_run_and_what_if_answer_without_storing_anything(settings) -> None:
    staff = token(settings, "bureau", "policy-wang")
    cert, _ = certificate("pk-wi", 1, training_kind="pre_job", start="2019-04-01")
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment("pk-wi"), cert])
        await eventually(lambda: _decided(eli))
        dry = await eli.post("/v1/dry-run", headers=staff, json={
            "person": {"person_id": "p", "as_of": "2020-05-20", "employed": True, "ui_contribution_months": 30},
            "certificate": {"certificate_id": "c", "number": "n", "kind": "skill_level",
                            "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20"}})
        assert dry.status_code == 200, dry.text
        assert dry.json()["decisions"][0]["amount_fen"] == 70000 and dry.json()["stored"] is False
        bad = await eli.post("/v1/dry-run", headers=staff, json={
            "person": {"person_id": "p", "as_of": "2020-05-20"},
            "certificate": {"certificate_id": "c", "number": "n", "kind": "nope", "occupation_code": LATHE,
                            "level": 4, "issue_date": "2020-05-20"}})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("certificate")
        wi = await eli.post("/v1/what-if", headers=staff, json={
            "key": "四.2.share", "value": "3/4", "valid_from": "2020-01-01",
            "period_from": "2020-01-01", "period_to": "2020-12-31"})
        assert wi.status_code == 200, wi.text
        assert (wi.json()["count_delta"], wi.json()["fen_delta"]) == (0, 35000)
        assert len(await current(eli._transport.app)) == 1  # type: ignore[attr-defined]


async def _decided(client: Any) -> bool:
    return bool(await current(client._transport.app))


async def test_parameter_files_are_stored_as_versions_and_never_edited(settings) -> None:
    bureau = token(settings, "bureau", "param-admin")
    text = PARAMETERS_FILE.read_text(encoding="utf-8")
    newer = text.replace('set_version: "', 'set_version: "v2-', 1)
    async with serve(create_app(settings)) as eli:
        assert (await eli.post("/v1/parameters", headers=bureau, json={"yaml": text})).status_code == 409
        assert (await eli.post("/v1/parameters", headers=bureau, json={"yaml": "x: ["})).status_code == 422
        submitted = await eli.post("/v1/parameters", headers=bureau, json={"yaml": newer})
        assert submitted.status_code == 202 and submitted.json()["status"] == "pending", submitted.text
        approval = f"/v1/parameters/approvals/{submitted.json()['approval_id']}"
        assert len((await eli.get("/v1/parameters", headers=bureau)).json()) == 1  # not in force yet
        own = await eli.post(approval, headers=bureau)  # four eyes: never the submitter
        assert own.status_code == 409 and own.json()["errors"][0]["field"] == "approval_id"
        second = token(settings, "bureau", "param-admin-2")
        approved = await eli.post(approval, headers=second)
        assert approved.status_code == 201 and approved.json()["approved_by"] == "param-admin-2", approved.text
        assert (await eli.post(approval, headers=second)).status_code == 409  # approved once
        history = (await eli.get("/v1/parameters", headers=bureau)).json()
        assert [h["loaded_by"] for h in history] == ["shipped-file", "param-admin"]
        async with eli._transport.app.state.runtime.maker() as session:  # type: ignore[attr-defined]
            with pytest.raises(sa.exc.DBAPIError):
                await session.execute(sa.text("UPDATE parameter_versions SET loaded_by = 'me'"))


async def test_the_three_per_year_cap_holds_with_two_instances_in_one_group(settings) -> None:
    persons = [f"pk-cap-{i}" for i in range(12)]
    events = [catalog(f"K{j}", 4) for j in range(6)]
    for p in persons:
        events.append(employment(p))
        events += [certificate(p, j, code=f"K{j}", training_kind="on_the_job", issued=f"2020-0{j + 1}-10")[0]
                   for j in range(6)]
    apps = [create_app(settings), create_app(settings)]
    async with serve(apps[0]) as one, serve(apps[1]):
        await publish(settings, events)

        async def all_applied() -> bool:
            return await inbox_count(apps[0]) >= len(events)

        await eventually(all_applied, timeout=60)
        rows = await current(apps[0])
        async with apps[0].state.runtime.maker() as session:
            dead = (await session.execute(sa.text("SELECT count(*) FROM dead_letter"))).scalar_one()
    approved = [r for r in rows if r["outcome"] == "approved"]
    assert dead == 0
    assert {p: sum(1 for r in approved if r["person_key"] == p) for p in persons} == {p: 3 for p in persons}
    assert len(rows) == len(persons) * 6
    _ = one
