"""Reporting's projections over a real broker and a real PostgreSQL: events in, figures out."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from services.reporting import queries
from services.reporting.handlers import targets_now
from services.reporting.main import create_app
from services.reporting.progress import progress_view
from tests.conftest import bearer, serve
from tests.integration.reporting.helpers import (
    certificate,
    decided,
    disbursement,
    employed,
    eventually,
    publish,
    revoked,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")
AS_OF = {"as_of": "2020-12-31"}


def app_for(settings: Any) -> Any:
    app = create_app(settings)
    app.state.runtime.state["special_check_seconds"] = 0  # check after every batch in tests
    return app


async def test_person_times_count_approvals_once_and_net_out_reversals_and_supersessions(settings) -> None:
    first = decided("p-1", "四.2", "approved", 70_000, "2020-05-10", groups=("employee",))
    second = decided("p-2", "四.4", "approved", 150_000, "2020-08-01", district="320602",
                     groups=("unemployed",))
    redecided = decided("p-1", "四.2", "approved", 60_000, "2020-09-01",
                        supersedes=uuid.UUID(first.payload["decision_id"]))
    reversal = decided("p-2", "四.4", "reversed", -150_000, "2020-10-10", district="320602",
                       supersedes=uuid.UUID(second.payload["decision_id"]))
    living = decided("p-3", "五.2b", "approved", 30_000, "2020-05-10")  # a payment, not training
    async with serve(app_for(settings)) as rep:
        await publish(settings, [first, second, living, first])  # `first` delivered twice

        async def two() -> Any:
            body = (await rep.get("/v1/progress", params=AS_OF)).json()
            return body if body["person_times"] == 2 else None

        body = await eventually(two)
        assert body["target"] == 305000 and body["share"] == round(2 / 305000, 6)
        await publish(settings, [redecided, reversal])

        async def one() -> Any:
            body = (await rep.get("/v1/progress", params=AS_OF)).json()
            return body if body["person_times"] == 1 else None

        body = await eventually(one)
        public = body["person_times_detail"]
        # one person in 四.2: below the small-cell threshold, so the public figure hides it
        assert {r["clause"]: (r["count"], r["suppressed"]) for r in public["by_clause"]} == {
            "四.2": (None, True), "四.4": (0, False), "五.2b": (0, False)}
        detail = await unsuppressed(rep)  # the projection behind it, as the bureau's reports use it
        assert {r["clause"]: r["count"] for r in detail["by_clause"]} == {"四.2": 1, "四.4": 0, "五.2b": 0}
        assert detail["amount_fen"] == 60_000 + 30_000  # net of the 70,000 superseded and the reversal
        q = {r["quarter"]: r["count"] for r in detail["by_quarter"]}
        assert (q["2020Q2"], q["2020Q3"], q["2020Q4"]) == (1, 1, -1)  # corrections land when made
        t1 = next(t for t in body["targets"] if t["id"] == "T1")
        assert t1["actual"] == 1 and t1["behind"] is True
        async with rep._transport.app.state.runtime.maker() as s:  # type: ignore[attr-defined]
            raised = await s.scalar(text("SELECT count(*) FROM outbox "
                                         "WHERE envelope->>'type' = 'reporting.special_report.raised' "
                                         "AND envelope->'payload'->>'target_id' = 'T1'"))
        assert raised == 1  # two batches behind: one special report per target and quarter


async def test_the_outcome_gauge_counts_current_decisions_whatever_the_order_they_arrive_in(settings) -> None:
    """A certificate first rejected (its holder's employment fact came late) and then approved is
    one approved decision on the gauge, also when the approval arrives before the rejection."""
    rejected = decided("p-1", "四.2", "rejected", 0, "2020-05-10")
    approved = decided("p-1", "四.2", "approved", 70_000, "2020-05-11",
                       supersedes=uuid.UUID(rejected.payload["decision_id"]))
    early = decided("p-2", "四.2", "rejected", 0, "2020-05-10")
    late = decided("p-2", "四.2", "approved", 70_000, "2020-05-11", supersedes=uuid.UUID(early.payload["decision_id"]))
    async with serve(app_for(settings)) as rep:
        await publish(settings, [rejected, approved, rejected, late])  # p-1 in order, once again; p-2's approval first

        async def gauge(want: dict[str, float]) -> Any:
            text_ = (await rep.get("/metrics")).text
            got = {o: _sample(text_, f'skillsub_subsidy_decisions{{outcome="{o}"}}') or 0.0  # no row yet: none
                   for o in ("approved", "rejected")}
            return got if got == want else None

        await eventually(lambda: gauge({"approved": 2.0, "rejected": 0.0}))
        await publish(settings, [early])  # the superseded rejection arrives last: it is not current
        maker = rep._transport.app.state.runtime.maker  # type: ignore[attr-defined]

        async def applied() -> Any:
            async with maker() as s:
                return await s.scalar(text("SELECT count(*) FROM decision_facts"), {}) == 4

        await eventually(applied)
        assert await gauge({"approved": 2.0, "rejected": 0.0})
        async with maker() as s:
            current = (await s.execute(text("SELECT outcome, count(*) FROM decision_facts WHERE current "
                                            "GROUP BY outcome"))).all()
        assert dict(current) == {"approved": 2}


def _sample(exposition: str, name: str) -> float | None:
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def unsuppressed(rep: Any) -> dict[str, Any]:
    """The person-times breakdown before small-cell suppression (services/reporting/queries.py)."""
    runtime = rep._transport.app.state.runtime
    targets = targets_now(runtime)
    async with runtime.maker() as s:
        tally = await queries.load_tally(s, targets, dt.date.fromisoformat(AS_OF["as_of"]))
    return progress_view(tally, targets, dt.date.fromisoformat(AS_OF["as_of"]))["person_times"]


async def test_person_times_are_filed_under_the_department_the_decision_names_else_the_bureau(settings) -> None:
    farm = decided("p-1", "四.2", "approved", 70_000, "2020-05-10", department="农业农村局")
    plain = decided("p-2", "四.2", "approved", 70_000, "2020-05-11")
    undo = decided("p-1", "四.2", "reversed", -70_000, "2020-06-01",
                   supersedes=uuid.UUID(farm.payload["decision_id"]))  # a reversal names no department

    async def by_department(rep: Any, expected: dict[str, int]) -> Any:
        public = (await rep.get("/v1/progress", params=AS_OF)).json()["person_times_detail"]
        assert all(r["count"] is None or r["count"] == 0 for r in public["by_department"])  # small cells
        got = {r["department"]: r["count"] for r in (await unsuppressed(rep))["by_department"]}
        return got if got == expected else None

    async with serve(app_for(settings)) as rep:
        await publish(settings, [farm, plain])
        await eventually(lambda: by_department(rep, {"农业农村局": 1, "人社局": 1}))
        await publish(settings, [undo])  # undone under the department it was counted in
        await eventually(lambda: by_department(rep, {"农业农村局": 0, "人社局": 1}))


async def test_fund_use_follows_disbursements_from_reserved_to_paid_and_back(settings) -> None:
    """Sums and the payments counted beside them: a's reservation and payment in one month leave
    nothing reserved, so only b's reservation is counted in the month's `reserved`; a's claw-back
    ends its count in `paid`. The public form publishes no month still running."""
    a, b = uuid.uuid4(), uuid.uuid4()
    bureau = bearer("demo-bureau", "bureau")
    async with serve(app_for(settings)) as rep:
        await publish(settings, [
            disbursement("drafted", a, "reserved", 70_000, source="unemployment_insurance_surplus"),
            disbursement("drafted", b, "waiting", 50_000, source="local_talent"),
            disbursement("changed", a, "approved", 70_000, source="unemployment_insurance_surplus"),
            disbursement("changed", a, "released", 70_000, source="unemployment_insurance_surplus"),
            disbursement("changed", a, "paid", 70_000, source="unemployment_insurance_surplus"),
            disbursement("changed", b, "reserved", 50_000, source="local_talent")])

        async def settled() -> Any:
            body = (await rep.get("/v1/funds", headers=bureau)).json()
            return body if (body["totals"]["paid_fen"], body["totals"]["reserved_fen"]) == (70_000, 50_000) else None

        body = await eventually(settled)
        assert body["min_cell"] is None and not body["totals"]["suppressed"]
        names = {r["source"]: r["name_zh"] for r in body["by_source"]}
        assert names == {"unemployment_insurance_surplus": "失业保险基金结余", "local_talent": "地方人才经费"}
        maker = rep._transport.app.state.runtime.maker  # type: ignore[attr-defined]

        async def counts() -> tuple[dict[str, tuple[int, int]], list[tuple[int, int]]]:
            async with maker() as s:
                cells = (await s.execute(text("SELECT source, paid_holders, reserved_holders FROM fund_counts"))).all()
                months = (await s.execute(text("SELECT paid_payments, reserved_payments FROM fund_month_counts "
                                               "WHERE dim IN ('*', 'source') ORDER BY dim, value"))).all()
            return {r[0]: (r[1], r[2]) for r in cells}, [tuple(r) for r in months]

        # the city's month, then local_talent's and unemployment_insurance_surplus's
        assert await counts() == ({"unemployment_insurance_surplus": (1, 0), "local_talent": (0, 1)},
                                  [(1, 1), (0, 1), (1, 0)])
        public = (await rep.get("/v1/funds")).json()
        cut = dt.date.fromisoformat(public["as_of"])
        assert public["min_cell"] == 5 and (cut + dt.timedelta(days=1)).day == 1 and cut < dt.date.today()
        assert public["totals"]["paid_fen"] == 0 and public["by_month"] == []  # this month is still running
        await publish(settings, [
            disbursement("changed", a, "reversed", 70_000, source="unemployment_insurance_surplus")])

        async def clawed_back() -> Any:
            return (await rep.get("/v1/funds", headers=bureau)).json()["totals"]["paid_fen"] == 0

        await eventually(clawed_back)
        assert await counts() == ({"unemployment_insurance_surplus": (0, 0), "local_talent": (0, 1)},
                                  [(0, 1), (0, 1), (0, 0)])
        assert (await rep.get("/v1/funds", headers={"Authorization": "Bearer not-a-token"})).status_code == 401


async def test_skill_ratios_count_employed_holders_at_their_best_level(settings) -> None:
    revoke_me = uuid.uuid4()
    bureau = bearer("demo-bureau", "bureau")
    async with serve(app_for(settings)) as rep:
        bad = await rep.put("/v1/statistics/employed", headers=bureau, json={"year": 2020, "figures": [
            {"district": "320612", "employed": 10}, {"district": "999999", "employed": 5}]})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "figures.1.district"
        gone = await rep.put("/v1/statistics/employed", headers=bureau, json={"year": 2021, "figures": [
            {"district": "320602", "employed": 10}]})
        assert gone.json()["errors"][0]["field"] == "figures.0.district"  # merged away in 2020-07
        zero = await rep.put("/v1/statistics/employed", headers=bureau, json={"year": 2020, "figures": [
            {"district": "320612", "employed": 0}]})
        assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "figures.0.employed"
        ok = await rep.put("/v1/statistics/employed", headers=bureau, json={"year": 2020, "figures": [
            {"district": "320612", "employed": 10}, {"district": "320613", "employed": 4}]})
        assert ok.status_code == 200
        await publish(settings, [
            employed("a", "320612"), certificate("a", 4), certificate("a", 2),   # high-skilled once
            employed("b", "320612"), certificate("b", 5, cert=revoke_me),
            certificate("c", 3),                                                  # not employed
            employed("d", "320602"), certificate("d", None, kind="special_ability")])

        async def counted() -> Any:
            body = (await rep.get("/v1/ratios", params={"year": 2020})).json()
            return body if body["city"]["skilled"] == 2 else None

        body = await eventually(counted)
        assert body["city"] == {"employed": 14, "skilled": 2, "high_skilled": 1,
                                "skilled_share": round(2 / 14, 4), "high_skilled_share": 0.5}
        await publish(settings, [revoked("b", revoke_me, "2020-11-01")])

        async def after_revocation() -> Any:
            city = (await rep.get("/v1/ratios", params={"year": 2020})).json()["city"]
            return city["skilled"] == 1

        await eventually(after_revocation)
        metrics = (await rep.get("/metrics")).text
        assert 'skillsub_skilled_worker_ratio{year="2020"} 0.0714' in metrics
        assert "skillsub_high_skilled_ratio" in metrics and "skillsub_subsidy_decisions" in metrics


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) absent")
async def test_metrics_pass_promtool_with_business_gauges_set(settings) -> None:
    async with serve(app_for(settings)) as rep:
        await publish(settings, [decided("p-1", "四.2", "approved", 70_000, "2020-05-10"),
                                 disbursement("drafted", uuid.uuid4(), "reserved", 70_000,
                                              source="employment_subsidy")])

        async def ready() -> Any:
            text_ = (await rep.get("/metrics")).text
            return text_ if "skillsub_subsidised_person_times 1.0" in text_ and \
                'skillsub_fund_reserved_fen{source="employment_subsidy"} 70000.0' in text_ else None

        exposition = await eventually(ready)
        assert 'skillsub_subsidy_decisions{outcome="approved"} 1.0' in exposition
        proc = await asyncio.create_subprocess_exec(
            "promtool", "check", "metrics", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(exposition.encode()), timeout=30)
        assert proc.returncode == 0, (out + err).decode()
