"""Write: store what the decide step changed and stage its events, in a fixed handful of
statements per batch: retire, insert, emit, open the notices (公示) of approvals that pay and the
reviews, recount the 十三.1 slots."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import notices, store
from services.eligibility.decision import NEEDS_REVIEW
from services.eligibility.params import ParameterSet
from services.eligibility.person import Changes, Decided, Held
from shared.clock import nantong_today
from shared.db import any_of, insert_many
from shared.events import Envelope, PayeeKind, SubsidyDecidedV3, new_envelope

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "eligibility"
CAP_KEY = "十三.1.per_year_cap"


def decision_id(got: Decided, supersedes: uuid.UUID | None) -> uuid.UUID:
    """Deterministic: a replayed batch writes the same ids, which the insert skips."""
    d = got.decision
    return uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:decision:{got.trigger_id}:{d.clause}:{d.outcome}:"
                                          f"{d.amount_fen}:{d.payee_ref}:{supersedes}")


def decision_row(person: str, got: Decided, old: Held | None, set_version: str) -> dict[str, Any]:
    d = got.decision
    supersedes = old.decision_id if old is not None else None
    record = {
        # Plain field copies: dataclasses.asdict deep-copies and was a hot spot per decision.
        "steps": [{"description_zh": s.description_zh, "description_en": s.description_en, "value": s.value}
                  for s in d.steps],
        "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in d.reasons],
        # The other clauses tested, by reason code (their texts are in the explanations below).
        "considered": [{"clause": c.clause, "outcome": c.outcome, "amount_fen": c.amount_fen,
                        "reasons": [r.code for r in c.reasons]} for c in d.considered],
        "clauses_cited": list(d.clauses_cited), "parameter_set": set_version,
        "parameter_versions": [f"{k}@{v}" for k, v in d.parameter_versions],
        "catalog_line": d.catalog_line, "shortage_list": d.shortage_list,
        "explanation_zh": d.explanation_zh, "explanation_en": d.explanation_en,
        "facts_as_of": got.facts_as_of.isoformat(), "facts_used": list(got.facts_used),
        "trigger": dict(got.summary), "payee_kind": d.payee_kind, "payee_ref": d.payee_ref,
        "class_id": got.class_id, "institution_code": got.institution_code, "district": got.district,
        "target_groups": list(got.target_groups), "hire_key": d.hire_key, "months": str(d.months),
    } | dict(got.extra)
    return {"decision_id": decision_id(got, supersedes), "person_key": person, "trigger_id": got.trigger_id,
            "trigger_kind": got.trigger_kind, "clause": d.clause, "outcome": d.outcome,
            "amount_fen": d.amount_fen, "year": d.year, "occupation_key": d.occupation_key,
            "counts_toward_cap": d.counts_toward_cap, "supersedes": supersedes, "record": record, "_decided": got}


async def write_changes(session: AsyncSession, runtime: Runtime, changes: Mapping[str, Changes],
                        params: ParameterSet) -> list[dict[str, Any]]:
    """Store every subject's changes; returns the rows inserted (with their events staged)."""
    rows = [decision_row(subject, got, old, params.set_version)
            for subject, ch in changes.items() for got, old in ch.new]
    retire = [h for ch in changes.values() for h in ch.retire]
    d = store.decisions
    if retire:
        ids = [h.decision_id for h in retire]
        await session.execute(sa.update(d).where(any_of(d.c.decision_id, ids)).values(current=False))
        await session.execute(sa.update(store.reviews).where(
            any_of(store.reviews.c.decision_id, ids), store.reviews.c.status == "open").values(
            status="superseded", resolved_at=sa.func.now(), resolution_reason="facts changed"))
    today = nantong_today()
    planned = await notices.plan_notices(session, rows, [h.decision_id for h in retire], params, today)
    if rows:
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        # Only a replayed decision id is skipped: 十三 index and CHECK violations must fail the batch.
        await insert_many(session, d, clean, conflict="ON CONFLICT (decision_id) DO NOTHING")
        events = [_event(r, today, planned.get(r["decision_id"], {}).get("ends_on")) for r in rows]
        await runtime.emit(session, events)
        await notices.insert_notices(session, rows, planned, {
            e.event_id: e.payload for e in events if e.event_id in planned})
        await _open_reviews(session, [r for r in rows if r["outcome"] == NEEDS_REVIEW])
    await recount_slots(session, sorted(changes), params)
    return rows


# Recount the 十三.1 slots of these persons with the cap in force each year; years that dropped
# to none are set to 0, not left stale. CHECK (used <= cap) refuses a count above the parameter.
SLOTS_SQL = """
WITH caps AS (SELECT * FROM unnest(CAST(:years AS int[]), CAST(:caps AS int[])) AS k(year, cap)),
     c AS (SELECT person_key, year, count(*) AS used FROM decisions WHERE person_key = ANY(:keys)
           AND current AND counts_toward_cap AND outcome IN ('approved','needs_review') GROUP BY 1, 2),
     z AS (SELECT s.person_key, s.year, 0 AS used FROM person_year_slots s WHERE s.person_key = ANY(:keys)
           AND NOT EXISTS (SELECT 1 FROM c WHERE c.person_key = s.person_key AND c.year = s.year)),
     u AS (SELECT * FROM c UNION ALL SELECT * FROM z)
INSERT INTO person_year_slots (person_key, year, used, cap)
SELECT u.person_key, u.year, u.used, coalesce(caps.cap, 0) FROM u LEFT JOIN caps ON caps.year = u.year
ON CONFLICT (person_key, year) DO UPDATE SET used = excluded.used, cap = excluded.cap
"""


def yearly_caps(params: ParameterSet) -> tuple[list[int], list[int]]:
    """(years, caps): for each year a cap version touches, the largest cap in force that year."""
    entries = params.versions.get(CAP_KEY, ())
    years = sorted({y for e in entries for y in range(e.valid_from.year, (e.valid_to or e.valid_from).year + 1)})
    return years, [int(params.max_in_year(CAP_KEY, y) or 0) for y in years]


async def recount_slots(session: AsyncSession, persons: Sequence[str], params: ParameterSet) -> None:
    years, caps = yearly_caps(params)
    await session.execute(sa.text(SLOTS_SQL), {"keys": list(persons), "years": years, "caps": caps})


async def _open_reviews(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(store.reviews).values([
            {"review_id": uuid.uuid5(r["decision_id"], "review"), "decision_id": r["decision_id"],
             "person_key": r["person_key"], "origin": "needs_review"} for r in rows]).on_conflict_do_nothing())


def _event(r: dict[str, Any], today: Any, notice_ends_on: Any) -> Envelope:
    got: Decided = r["_decided"]
    d, rec = got.decision, r["record"]
    code, level = _occupation(got)
    payload = SubsidyDecidedV3(
        decision_id=r["decision_id"], person_key=r["person_key"], trigger_id=r["trigger_id"],
        trigger_kind=r["trigger_kind"], clause=d.clause, outcome=r["outcome"], amount_fen=r["amount_fen"],
        clauses_cited=list(d.clauses_cited), reasons=[x["code"] for x in rec["reasons"]], decided_on=today,
        year=d.year, district=got.district, occupation_code=code, level=level, supersedes=r["supersedes"],
        payee_kind=_payee_kind(rec, r["outcome"]), payee_ref=rec["payee_ref"], target_groups=list(got.target_groups),
        parameter_versions=rec["parameter_versions"], department=rec["trigger"].get("department"),
        class_id=uuid.UUID(got.class_id) if got.class_id else None, institution_code=got.institution_code,
        occupation_edition=got.summary.get("occupation_edition"), catalog_line=d.catalog_line,
        shortage_list=d.shortage_list, notice_ends_on=notice_ends_on)
    return new_envelope(payload, key=r["person_key"], producer=PRODUCER, event_id=r["decision_id"])


def _occupation(got: Decided) -> tuple[str | None, int | None]:
    code = got.summary.get("occupation_code")
    level = got.summary.get("level")
    return (str(code) if code else None), (int(level) if level is not None else None)


def _payee_kind(rec: Mapping[str, Any], outcome: str) -> PayeeKind:
    """Every decision names its payee kind; only a refusal for want of parameters (no payee table
    in force either) has none, and it pays nothing."""
    kind = rec["payee_kind"]
    if kind is None:
        if outcome != "rejected":
            raise ValueError("a decision that pays names its payee kind")
        return "worker"
    return cast(PayeeKind, kind)
