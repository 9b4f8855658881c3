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
    code,
    current,
    employment,
    eventually,
    inbox_count,
    pk,
    publish,
    token,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")
READER = FreshBearer("demo-auditor", "auditor")


async def first_decision(client: Any, trigger: uuid.UUID) -> dict[str, Any] | None:
    r = await client.get(f"/v1/certificates/{trigger}/decisions", headers=READER)
    return r.json()[0] if r.status_code == 200 else None


EVIDENCE = {"training_cost_fen": 48000, "assessment_fee_fen": 8000,
            "documents": ["发票 No.32062020000123", "培训记录 NT-2020-0415"]}


async def test_a_reviewer_resolves_pending_and_requested_reviews_within_the_cap(settings) -> None:
    reviewer, person_side = token(settings, "bureau", "rev-li"), token(settings, "feeder", "rep-system")
    pending, pid = certificate(pk("rv"), 1, occupation="6-99-99-99", training_kind="enterprise_non_catalog")
    rejected, rid = certificate(pk("rv"), 2, issued="2020-06-01")  # 四.4 without insurance months
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment(pk("rv")), pending, rejected])
        auto = await eventually(lambda: first_decision(eli, pid))
        refused = await eventually(lambda: first_decision(eli, rid))
        assert (auto["outcome"], refused["outcome"]) == ("needs_review", "rejected")
        assert (await eli.get("/v1/reviews")).status_code == 401
        queue = (await eli.get("/v1/reviews", headers=reviewer)).json()
        assert [q["decision_id"] for q in queue] == [auto["decision_id"]]
        url = f"/v1/reviews/{queue[0]['review_id']}/resolution"

        # 四.3 at actual cost: no figure without evidence, and the evidence sets the amount
        bare = await eli.post(url, headers=reviewer, json={"action": "approve", "amount_fen": 56000, "reason": "ok"})
        assert bare.status_code == 422 and bare.json()["errors"][0]["field"] == "evidence"
        done = await eli.post(url, headers=reviewer, json={"action": "approve", "reason": "invoices checked",
                                                           "evidence": EVIDENCE})
        assert done.status_code == 200, done.text
        now = await first_decision(eli, pid)
        assert (now["outcome"], now["amount_fen"], now["supersedes"]) == ("approved", 56000, auto["decision_id"])
        assert now["review"]["by"] == "rev-li" and "invoices checked" in now["explanation_zh"]
        assert [s["value"] for s in now["steps"]][:2] == ["480.00", "80.00"]
        assert now["review"]["evidence"]["documents"] == EVIDENCE["documents"]

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
        approved = await first_decision(eli, rid)
        assert approved["outcome"] == "approved" and approved["steps"][-1]["value"] == "700.00"
        not_reviewer = await eli.post(f"/v1/reviews/{review_id}/resolution", headers=person_side,
                                      json={"action": "reject", "reason": "x"})
        assert not_reviewer.status_code == 403


async def test_a_person_may_ask_for_review_of_an_approved_amount_but_the_requester_cannot_resolve_it(
        settings) -> None:
    """PIPL art. 24 covers the amount too; four eyes: the client that asked is not the reviewer."""
    same = token(settings, "bureau", "rev-zhou")
    other = token(settings, "bureau", "rev-sun")
    cert, cid = certificate(pk("amt"), 1, training_kind="pre_job", start="2019-04-01")
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment(pk("amt")), cert])
        auto = await eventually(lambda: first_decision(eli, cid))
        assert (auto["outcome"], auto["amount_fen"]) == ("approved", 70000)
        asked = await eli.post(f"/v1/decisions/{auto['decision_id']}/review-requests", headers=same,
                               json={"reason": "车工 was on the shortage list that year"})
        assert asked.status_code == 201, asked.text
        url = f"/v1/reviews/{asked.json()['review_id']}/resolution"
        own = await eli.post(url, headers=same, json={"action": "approve", "amount_fen": 140000, "reason": "yes"})
        assert own.status_code == 403 and own.json()["errors"][0]["field"] == "review_id"
        above = await eli.post(url, headers=other, json={"action": "approve", "amount_fen": 140001, "reason": "x"})
        assert above.status_code == 422  # the top rate: 100% of Std for a shortage occupation
        ok = await eli.post(url, headers=other, json={"action": "approve", "amount_fen": 140000,
                                                      "reason": "2020 shortage list, corrected"})
        assert ok.status_code == 200, ok.text
        now = await first_decision(eli, cid)
        assert (now["outcome"], now["amount_fen"], now["supersedes"]) == ("approved", 140000, auto["decision_id"])
        assert [s["value"] for s in now["steps"]][-1] == "1400.00" and len(now["steps"]) > 1  # kept its steps


async def test_a_reviewers_rejection_frees_the_slot_for_the_first_cap_rejected_certificate(settings) -> None:
    reviewer, asker = token(settings, "bureau", "rev-wu"), token(settings, "feeder", "rep-system")
    person = pk("free")
    codes = [code(32, i) for i in range(4)]
    certs = [certificate(person, i, occupation=c, training_kind="on_the_job", issued=f"2020-0{i + 1}-10")
             for i, c in enumerate(codes)]
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(c) for c in codes] + [employment(person)] + [e for e, _ in certs])
        last = await eventually(lambda: first_decision(eli, certs[3][1]))
        assert last["outcome"] == "rejected" and "yearly_cap_reached" in {r["code"] for r in last["reasons"]}
        first = await first_decision(eli, certs[0][1])
        asked = await eli.post(f"/v1/decisions/{first['decision_id']}/review-requests", headers=asker,
                               json={"reason": "I did not attend this course"})
        assert asked.status_code == 201, asked.text
        done = await eli.post(f"/v1/reviews/{asked.json()['review_id']}/resolution", headers=reviewer,
                              json={"action": "reject", "reason": "attendance record missing"})
        assert done.status_code == 200, done.text
        assert (await first_decision(eli, certs[0][1]))["outcome"] == "rejected"
        freed = await first_decision(eli, certs[3][1])
        assert (freed["outcome"], freed["amount_fen"], freed["supersedes"]) == ("approved", 70000, last["decision_id"])


async def test_dry_run_and_what_if_answer_without_storing_anything(settings) -> None:
    staff = token(settings, "bureau", "policy-wang")
    cert, _ = certificate(pk("wi"), 1, training_kind="pre_job", start="2019-04-01")
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment(pk("wi")), cert])
        await eventually(lambda: _decided(eli))
        dry = await eli.post("/v1/dry-run", headers=staff, json={
            "person": {"person_id": pk("dry"), "as_of": "2020-05-20", "employed": True, "ui_contribution_months": 30},
            "certificate": {"certificate_id": str(uuid.uuid4()), "number": "Y000000000000014000001",
                            "kind": "skill_level", "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20",
                            "received_on": "2020-06-01"}})
        assert dry.status_code == 200, dry.text
        got = dry.json()["decisions"][0]
        assert (got["clause"], got["outcome"], got["amount_fen"]) == ("四.4", "approved", 70000)
        assert got["catalog_line"] == "t-2019:6-18-01-01(2015)#4@2019-01-01" and dry.json()["stored"] is False
        bad = await eli.post("/v1/dry-run", headers=staff, json={
            "person": {"person_id": pk("dry"), "as_of": "2020-05-20"},
            "certificate": {"certificate_id": str(uuid.uuid4()), "number": "Y000000000000014000001",
                            "kind": "nope", "occupation_code": LATHE,
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
    persons = [pk(f"cap-{i}") for i in range(12)]
    events = [catalog(code(31, j), 4) for j in range(6)]
    for p in persons:
        events.append(employment(p))
        events += [certificate(p, j, occupation=code(31, j), training_kind="on_the_job",
                               issued=f"2020-0{j + 1}-10")[0] for j in range(6)]
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


async def test_the_database_backstop_follows_the_cap_in_force_not_a_literal_three(settings) -> None:
    """The bureau raises 十三.1's cap to 4: four approvals are stored (a literal CHECK of 3 would
    dead-letter the batch) and the backstop still refuses a fifth slot."""
    bureau = token(settings, "bureau", "param-admin")
    text = PARAMETERS_FILE.read_text(encoding="utf-8").replace('set_version: "', 'set_version: "cap4-', 1)
    text = text.replace("values: [{value: 3, valid_from: 2019-01-01, valid_to: 2021-12-31, version: v1}]",
                        "values: [{value: 4, valid_from: 2019-01-01, valid_to: 2021-12-31, version: v2-cap4}]")
    person = pk("cap4")
    codes = [code(33, i) for i in range(5)]
    events = [catalog(c) for c in codes] + [employment(person)] + [
        certificate(person, i, occupation=c, training_kind="on_the_job", issued=f"2020-0{i + 1}-10")[0]
        for i, c in enumerate(codes)]
    async with serve(create_app(settings)) as eli:
        submitted = await eli.post("/v1/parameters", headers=bureau, json={"yaml": text})
        approval = f"/v1/parameters/approvals/{submitted.json()['approval_id']}"
        second = token(settings, "bureau", "param-admin-2")  # four eyes: another officer puts it in force
        assert (await eli.post(approval, headers=second)).status_code == 201
        await publish(settings, events)
        await eventually(lambda: _applied(eli, len(events)), timeout=60)
        rows = await current(eli._transport.app, person)  # type: ignore[attr-defined]
        async with eli._transport.app.state.runtime.maker() as s:  # type: ignore[attr-defined]
            dead = (await s.execute(sa.text("SELECT count(*) FROM dead_letter"))).scalar_one()
            slots = (await s.execute(sa.text("SELECT used, cap FROM person_year_slots WHERE person_key = :p"),
                                     {"p": person})).one()
            with pytest.raises(sa.exc.IntegrityError):
                await s.execute(sa.text("UPDATE person_year_slots SET used = cap + 1 WHERE person_key = :p"),
                                {"p": person})
    assert dead == 0 and tuple(slots) == (4, 4)
    assert sorted(r["outcome"] for r in rows) == ["approved"] * 4 + ["rejected"]


async def _applied(client: Any, n: int) -> bool:
    return await inbox_count(client._transport.app) >= n  # type: ignore[attr-defined]
