"""Eligibility as a running service: real PostgreSQL, real broker, registry envelopes on the topic."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from services.eligibility.main import create_app
from shared.db import drop_database
from shared.settings import Settings, with_database
from tests.conftest import FreshBearer, bearer, serve
from tests.integration.eligibility.eligibility_helpers import (
    apprentice_class,
    apprentice_year,
    catalog,
    certificate,
    code,
    current,
    employment,
    eventually,
    fact,
    pk,
    publish,
    revoke,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")
READER = FreshBearer("demo-bureau", "bureau")


async def decisions_of(client: Any, trigger: uuid.UUID, history: bool = False) -> list[dict[str, Any]] | None:
    r = await client.get(f"/v1/certificates/{trigger}/decisions", params={"include_history": history},
                         headers=READER)
    return r.json() if r.status_code == 200 else None


async def test_a_revoked_certificate_reverses_the_subsidy_it_triggered(settings) -> None:
    cert, cid = certificate(pk("rev"), 1, training_kind="pre_job", start="2019-04-01")
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment(pk("rev")), cert])
        first = await eventually(lambda: decisions_of(eli, cid))
        assert [(d["clause"], d["outcome"], d["amount_fen"]) for d in first] == [("四.2", "approved", 70000)]
        assert first[0]["facts_used"] and first[0]["explanation_en"].startswith("Clause 四.2")
        await publish(settings, [revoke(pk("rev"), cid)])

        async def reversed_() -> Any:
            got = await decisions_of(eli, cid)
            return got if got and got[0]["outcome"] == "reversed" else None

        now = await eventually(reversed_)
        assert now[0]["amount_fen"] == -70000 and now[0]["supersedes"] == first[0]["decision_id"]


async def test_late_insurance_months_supersede_a_rejection_with_an_approval(settings) -> None:
    cert, cid = certificate(pk("ui"), 2)  # employed, no training kind: 四.4 needs 12 months of UI
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment(pk("ui")), cert])
        first = await eventually(lambda: decisions_of(eli, cid))
        assert (first[0]["clause"], first[0]["outcome"]) == ("四.4", "rejected")
        await publish(settings, [fact(pk("ui"), "unemployment_insurance_months", "2020-01-01", months=14)])

        async def approved() -> Any:
            got = await decisions_of(eli, cid)
            return got if got and got[0]["outcome"] == "approved" else None

        now = await eventually(approved)
        assert now[0]["amount_fen"] == 70000 and now[0]["supersedes"] == first[0]["decision_id"]
        assert any(p.startswith("四.4.share@") for p in now[0]["parameter_versions"])
        history = await decisions_of(eli, cid, history=True)
        assert [d["current"] for d in history] == [False, True]


async def test_an_employment_fact_arriving_after_the_certificate_turns_its_rejection_into_an_approval_once(
        settings) -> None:
    cert, cid = certificate(pk("route"), 3, training_kind="pre_job", start="2019-04-01")
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), cert])
        first = await eventually(lambda: decisions_of(eli, cid))
        assert [(d["clause"], d["outcome"]) for d in first] == [("四.2", "rejected")]  # not employed yet
        assert "not_employed" in {r["code"] for r in first[0]["reasons"]}
        assert [c["clause"] for c in first[0]["considered"]] == ["四.3", "四.4", "五.2"]
        await publish(settings, [employment(pk("route"))])

        async def moved() -> Any:
            got = await decisions_of(eli, cid)
            return got if got and got[0]["outcome"] == "approved" else None

        now = await eventually(moved)
        assert [(d["clause"], d["outcome"]) for d in now] == [("四.2", "approved")]  # the rejection is gone
        assert now[0]["supersedes"] == first[0]["decision_id"]


async def test_a_catalog_row_arriving_late_re_decides_the_certificates_that_lacked_it(settings) -> None:
    cert, cid = certificate(pk("late"), 3, training_kind="pre_job", start="2019-04-01")
    async with serve(create_app(settings)) as eli:
        await publish(settings, [employment(pk("late")), cert])
        first = await eventually(lambda: decisions_of(eli, cid))
        assert first[0]["outcome"] == "rejected"
        await publish(settings, [catalog()])

        async def approved() -> Any:
            got = await decisions_of(eli, cid)
            return got if got and got[0]["outcome"] == "approved" else None

        assert (await eventually(approved))[0]["amount_fen"] == 70000


async def test_an_apprenticeship_year_waits_for_its_class_and_then_pays_the_level_rate(settings) -> None:
    cls, class_id = apprentice_class(level=4)
    done, completion = apprentice_year(pk("app"), class_id)
    async with serve(create_app(settings)) as eli:
        await publish(settings, [employment(pk("app")), done])
        await eventually(lambda: _inbox_has(eli, 2))
        assert await decisions_of(eli, completion) is None
        await publish(settings, [cls])
        got = await eventually(lambda: decisions_of(eli, completion))
        assert (got[0]["clause"], got[0]["outcome"], got[0]["amount_fen"]) == ("四.7", "approved", 400000)


async def test_decisions_name_the_department_of_their_triggers_class(settings) -> None:
    cls, class_id = apprentice_class(level=4, department="农业农村局")
    done, completion = apprentice_year(pk("dept"), class_id)
    in_class, in_class_id = certificate(pk("dept"), 1, class_id=class_id, training_kind="on_the_job")
    alone, alone_id = certificate(pk("dept"), 2, occupation="6-18-01-02", training_kind="on_the_job")
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), catalog("6-18-01-02"), employment(pk("dept")), cls, done,
                                 in_class, alone])
        year = await eventually(lambda: decisions_of(eli, completion))
        cert = await eventually(lambda: decisions_of(eli, in_class_id))
        other = await eventually(lambda: decisions_of(eli, alone_id))
        assert year[0]["trigger"]["department"] == cert[0]["trigger"]["department"] == "农业农村局"
        assert "department" not in other[0]["trigger"]  # no class: reporting files it under 人社局
        async with eli._transport.app.state.runtime.maker() as s:  # type: ignore[attr-defined]
            emitted = dict((await s.execute(sa.text(
                "SELECT envelope->'payload'->>'trigger_id', envelope->'payload'->>'department' FROM outbox "
                "WHERE envelope->>'type' = 'eligibility.subsidy.decided'"))).all())
        assert emitted[str(completion)] == emitted[str(in_class_id)] == "农业农村局"
        assert emitted[str(alone_id)] is None


async def test_decisions_are_read_by_staff_only_district_staff_in_their_districts_and_reads_are_audited(
        settings) -> None:
    cert, cid = certificate(pk("read"), 1, training_kind="pre_job", start="2019-04-01")
    own = bearer("district-tongzhou", "district", districts=frozenset({"320612"}))
    other = bearer("district-haian", "district", districts=frozenset({"320685"}))
    async with serve(create_app(settings)) as eli:
        await publish(settings, [catalog(), employment(pk("read")), cert])
        await eventually(lambda: decisions_of(eli, cid))
        url, person_url = f"/v1/certificates/{cid}/decisions", f"/v1/people/{pk('read')}/decisions"
        assert (await eli.get(url)).status_code == 401
        for role in ("institution", "feeder"):
            assert (await eli.get(url, headers=bearer(f"demo-{role}", role))).status_code == 403, role
        for role in ("bureau", "auditor", "hr", "finance"):
            assert (await eli.get(url, headers=bearer(f"demo-{role}", role))).status_code == 200, role
        assert (await eli.get(url, headers=own)).status_code == 200
        assert len((await eli.get(person_url, headers=own)).json()) == 1
        refused = await eli.get(url, headers=other)
        assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "certificate_id"
        assert (await eli.get(person_url, headers=other)).json() == []
        async with eli._transport.app.state.runtime.maker() as s:  # type: ignore[attr-defined]
            reads = (await s.execute(sa.text(
                "SELECT actor FROM audit_log WHERE action = 'read personal data'"))).scalars().all()
        assert {"district-tongzhou", "demo-auditor", "demo-hr"} <= set(reads)


async def _inbox_has(client: Any, n: int) -> bool:
    from tests.integration.eligibility.eligibility_helpers import inbox_count

    return await inbox_count(client._transport.app) >= n  # type: ignore[attr-defined]


def scenario() -> list[Any]:
    """Three persons with five 2020 certificates each (the cap binds), a revocation, late facts,
    an apprenticeship year before its class."""
    codes = [code(30, i) for i in range(5)]
    events: list[Any] = [catalog(c, lvl) for c in codes for lvl in (4, 3)]
    for person in (pk("a"), pk("b"), pk("c")):
        events.append(employment(person))
        for seq, occupation in enumerate(codes):
            events.append(certificate(person, seq, occupation=occupation, training_kind="on_the_job",
                                      issued=f"2020-0{seq + 1}-15")[0])
    events.append(revoke(pk("b"), certificate(pk("b"), 1, occupation=codes[1])[1]))
    events.append(fact(pk("c"), "unemployment_insurance_months", "2020-01-01", months=20))
    cls, class_id = apprentice_class(3)
    events += [apprentice_year(pk("a"), class_id)[0], cls]
    return events


def held_per_person(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, int]]:
    """(person, clause) -> (approvals, fen): what the 十三.1 cap leaves each person, whichever
    certificates arrived first."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for r in rows:
        if r["outcome"] == "approved":
            n, fen = out.get((r["person_key"], r["clause"]), (0, 0))
            out[(r["person_key"], r["clause"])] = (n + 1, fen + r["amount_fen"])
    return out


async def test_duplicated_and_shuffled_delivery_gives_every_person_the_same_entitlements(settings) -> None:
    """Which three of five certificates hold a person's 2020 slots follows the order they arrive
    in (docs/policy.md): a shuffled, duplicated delivery may pick others than a clean one, but
    every person holds the same number of subsidies and the same money, the revoked certificate
    holds nothing, and the other clauses decide the same."""
    events = scenario()
    other = _second_namespace(settings)
    noisy = events + random.Random(7).sample(events, len(events) // 2)
    random.Random(11).shuffle(noisy)
    apps = create_app(settings), create_app(other)
    try:
        async with serve(apps[0]) as clean, serve(apps[1]) as shuffled:
            await publish(settings, events)
            await publish(other, noisy)
            await eventually(lambda: _inbox_has(clean, len(events)))
            await eventually(lambda: _inbox_has(shuffled, len(events)))
            a, b = await current(apps[0]), await current(apps[1])
    finally:
        await drop_database(other.migration_url_for("eligibility"))
    assert held_per_person(a) == held_per_person(b)
    assert held_per_person(a)[(pk("a"), "四.3")] == (3, 210000)
    assert held_per_person(a)[(pk("b"), "四.3")] == (3, 210000)
    revoked = certificate(pk("b"), 1, occupation=code(30, 1))[1]
    for rows in (a, b):
        assert [r["outcome"] for r in rows if r["trigger_id"] == revoked] in ([], ["reversed"])
        assert {(r["clause"], r["outcome"], r["amount_fen"]) for r in rows if r["clause"] == "四.7"} == {
            ("四.7", "approved", 500000)}


def _second_namespace(settings: Settings) -> Settings:
    tag = uuid.uuid4().hex[:10]
    url = with_database(settings.database_url_for("eligibility"), f"t_{tag}_eligibility")
    owner = with_database(settings.migration_url_for("eligibility"), f"t_{tag}_eligibility")
    return settings.model_copy(update={"eligibility_database_url": url, "eligibility_migration_database_url": owner,
                                       "kafka_topic_prefix": f"t{tag}."})
