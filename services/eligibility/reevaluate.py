"""Re-decide persons from the projection; store and emit only what changed.

Every (re)evaluation re-decides all of a person's live triggers (certificates, apprenticeship
years, 以工代训 months, class completions) in date order from an empty PriorApprovals, so the
final state does not depend on delivery order or repeats. A per-person advisory lock serialises
two instances re-deciding the same person (a consumer-group rebalance can deliver to both).
A batch is a fixed handful of queries, whatever the number of persons in it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import paramstore, store
from services.eligibility.decision import APPROVED, NEEDS_REVIEW, Decision
from services.eligibility.domain import reverse
from services.eligibility.facts import CatalogStandard, CatalogView, catalog_from_lines
from services.eligibility.limits import PriorApprovals
from services.eligibility.params import ParameterSet
from services.eligibility.projection import FactRecord
from services.eligibility.trigger_items import (
    Decided,
    Item,
    decide_item,
    decide_order_class_row,
    items_for,
)
from shared.events import Envelope, SubsidyDecidedV1, new_envelope

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "eligibility"
Current = dict[tuple[uuid.UUID, str], dict[str, Any]]


async def load_catalog(session: AsyncSession, runtime: Runtime) -> CatalogView:
    """The Catalog projection, cached until a new row or list arrives."""
    stamp = (await session.execute(sa.text(
        "SELECT (SELECT count(*) FROM catalog_standards), (SELECT count(*) FROM shortage_lists)"))).one()
    cached = runtime.state.get("catalog")
    if cached is not None and cached[0] == tuple(stamp):
        return cached[1]  # type: ignore[no-any-return]
    rows = (await session.execute(sa.select(store.catalog))).mappings().all()
    lines = [CatalogStandard(r["occupation_code"], r["level"], r["training_fen"], r["appraisal_fen"],
                             r["valid_from"], r["valid_to"], r["catalog_version"]) for r in rows]
    lists: dict[str, dict[int, frozenset[str]]] = {"market": {}, "provincial_high_skill": {}}
    for r in (await session.execute(sa.select(store.shortage_lists))).mappings():
        bucket = lists.setdefault(r["list_kind"], {})
        bucket[r["year"]] = bucket.get(r["year"], frozenset()) | frozenset(r["occupation_codes"])
    view = catalog_from_lines(lines, lists["market"], lists["provincial_high_skill"])
    runtime.state["catalog"] = (tuple(stamp), view)
    return view


REFERENCE_LOCK = 7_112_019  # Catalog, lists, classes: written under it exclusively, read shared


async def lock_reference(session: AsyncSession, exclusive: bool) -> None:
    """Without it a Catalog row committed while another instance decides a certificate of that
    occupation (read before the commit) would leave that certificate decided without it."""
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(sa.text(f"SELECT {fn}(:k)"), {"k": REFERENCE_LOCK})


async def lock_persons(session: AsyncSession, keys: list[str]) -> None:
    """Transaction-scoped locks, taken in one sorted order so two batches cannot deadlock."""
    await session.execute(sa.text(
        "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM "
        "(SELECT k FROM unnest(CAST(:keys AS text[])) k ORDER BY k) s"), {"keys": sorted(keys)})


async def reevaluate(session: AsyncSession, runtime: Runtime, persons: list[str],
                     classes: list[uuid.UUID] | None = None) -> None:
    """Re-decide these persons (and order classes); store and emit only what changed."""
    subjects = sorted(set(persons) | {_class_key(c) for c in classes or ()})
    if not subjects:
        return
    await lock_reference(session, exclusive=False)
    await lock_persons(session, subjects)
    catalog, params = await load_catalog(session, runtime), await paramstore.current(session, runtime)
    items = await items_for(session, persons)
    facts = await _facts_by_person(session, persons)
    current = await _current_by_person(session, subjects)
    new_rows: list[dict[str, Any]] = []
    retire: list[dict[str, Any]] = []
    for person in persons:
        decided = _decide_person(items[person], facts[person], catalog, params, current[person])
        _diff(person, decided, current[person], params, new_rows, retire)
    for class_id in classes or ():
        decided = await decide_order_class_row(session, class_id, params)
        if decided is not None:
            _diff(_class_key(class_id), [decided], current[_class_key(class_id)], params, new_rows, retire)
    await store_changes(session, runtime, new_rows, retire, subjects)


def _class_key(class_id: uuid.UUID) -> str:
    return f"order-class:{class_id}"


def _decide_person(items: list[Item], records: list[FactRecord], catalog: CatalogView,
                   params: ParameterSet, current: Current) -> list[Decided]:
    prior = PriorApprovals()
    out: list[Decided] = []
    for item in items:
        if item.revoked_on is not None:
            out += [dataclasses.replace(item.as_decided(d), facts_as_of=item.revoked_on)
                    for d in _reversals(item.trigger_id, current)]
            continue
        for got in decide_item(item, records, catalog, params, prior, current):
            out.append(got)
            prior = prior.add(_effective(got.decision, current.get((item.trigger_id, got.decision.clause))))
    return out


def _effective(d: Decision, old: dict[str, Any] | None) -> Decision:
    """What a person holds: a reviewer's kept decision overrides the automated one."""
    review = old["record"].get("review") if old and _kept_review(old, d) else None
    if review is None:
        return d
    return dataclasses.replace(d, outcome=old["outcome"], amount_fen=old["amount_fen"])  # type: ignore[index]


def _kept_review(old: dict[str, Any], d: Decision) -> bool:
    """A reviewer's decision stands while the automated basis it resolved is unchanged."""
    basis = old["record"].get("auto_basis")
    return basis is not None and basis["outcome"] == d.outcome and basis["amount_fen"] == d.amount_fen


def _reversals(trigger_id: uuid.UUID, current: Current) -> list[Decision]:
    mine = [v["decision"] for (tid, _), v in current.items()
            if tid == trigger_id and v["outcome"] in (APPROVED, NEEDS_REVIEW)]
    return list(reverse(mine)) if mine else []


def _diff(person: str, decided: list[Decided], current: Current, params: ParameterSet,
          new_rows: list[dict[str, Any]], retire: list[dict[str, Any]]) -> None:
    stale = _stale_clauses(decided, current)
    for got in decided:
        d = got.decision
        old = current.get((got.trigger_id, d.clause))
        if old is not None and (_kept_review(old, d) or
                                (old["outcome"] == d.outcome and old["amount_fen"] == d.amount_fen)):
            continue
        # A trigger now decided under another clause (facts changed its route, e.g. 五.2 -> 四.2):
        # the new decision supersedes the old clause's one, so nothing stale stays current.
        old = old or stale.pop(got.trigger_id, None)
        if old is not None:
            retire.append(old)
        new_rows.append(decision_row(person, got, old["decision_id"] if old else None, params.set_version))


def _stale_clauses(decided: list[Decided], current: Current) -> dict[uuid.UUID, dict[str, Any]]:
    """Current decisions of re-decided triggers whose clause the new decisions no longer cover."""
    fresh = {(got.trigger_id, got.decision.clause) for got in decided}
    triggers = {trigger for trigger, _ in fresh}
    return {trigger: row for (trigger, clause), row in current.items()
            if trigger in triggers and (trigger, clause) not in fresh}


def decision_row(person: str, got: Decided, supersedes: uuid.UUID | None, set_version: str,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    d = got.decision
    decision_id = uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:decision:{got.trigger_id}:{d.clause}:"
                                                 f"{d.outcome}:{d.amount_fen}:{supersedes}")
    record = {
        # Plain field copies: dataclasses.asdict deep-copies and was a hot spot per decision.
        "steps": [{"description_zh": s.description_zh, "description_en": s.description_en, "value": s.value}
                  for s in d.steps],
        "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in d.reasons],
        "clauses_cited": list(d.clauses_cited), "parameter_set": set_version,
        "parameter_versions": [f"{k}@{v}" for k, v in d.parameter_versions],
        "explanation_zh": d.explanation_zh, "explanation_en": d.explanation_en,
        "facts_as_of": got.facts_as_of.isoformat(), "facts_used": got.facts_used,
        "trigger": got.trigger_summary, "payee_kind": got.payee_kind, "payee_ref": got.payee_ref,
        "district": got.district,
    } | (extra or {})
    return {"decision_id": decision_id, "person_key": person, "trigger_id": got.trigger_id,
            "trigger_kind": got.trigger_kind, "clause": d.clause, "outcome": d.outcome,
            "amount_fen": d.amount_fen, "year": d.year,
            "occupation_key": f"{d.occupation_key[0]}#{d.occupation_key[1]}" if d.occupation_key else None,
            "counts_toward_cap": d.counts_toward_cap, "supersedes": supersedes, "record": record,
            "_decision": d}


async def store_changes(session: AsyncSession, runtime: Runtime, rows: list[dict[str, Any]],
                        retire: list[dict[str, Any]], persons: list[str]) -> None:
    """Retire, insert, emit, open reviews, recount the 十三.1 slots: five statements a batch."""
    d = store.decisions
    if retire:
        ids = [r["decision_id"] for r in retire]
        await session.execute(sa.update(d).where(d.c.decision_id.in_(ids)).values(current=False))
        await session.execute(sa.update(store.reviews).where(
            store.reviews.c.decision_id.in_(ids), store.reviews.c.status == "open").values(
            status="superseded", resolved_at=sa.func.now(), resolution_reason="facts changed"))
    if rows:
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        # Only a replayed decision id is skipped: 十三 index and CHECK violations must fail the batch.
        await session.execute(insert(d).on_conflict_do_nothing(index_elements=["decision_id"]), clean)
        await runtime.emit(session, [_event(r) for r in rows])
        await _open_reviews(session, [r for r in rows if r["outcome"] == NEEDS_REVIEW])
    await session.execute(sa.text(SLOTS_SQL), {"keys": persons})


# Recount the 十三.1 slots of these persons; years that dropped to none are set to 0, not left stale.
SLOTS_SQL = """
WITH c AS (SELECT person_key, year, count(*) AS used FROM decisions WHERE person_key = ANY(:keys)
           AND current AND counts_toward_cap AND outcome IN ('approved','needs_review') GROUP BY 1, 2),
     z AS (SELECT s.person_key, s.year, 0 AS used FROM person_year_slots s WHERE s.person_key = ANY(:keys)
           AND NOT EXISTS (SELECT 1 FROM c WHERE c.person_key = s.person_key AND c.year = s.year))
INSERT INTO person_year_slots (person_key, year, used) SELECT * FROM c UNION ALL SELECT * FROM z
ON CONFLICT (person_key, year) DO UPDATE SET used = excluded.used
"""


async def _open_reviews(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(store.reviews).values([
            {"review_id": uuid.uuid5(r["decision_id"], "review"), "decision_id": r["decision_id"],
             "person_key": r["person_key"], "origin": "needs_review"} for r in rows]).on_conflict_do_nothing())


def _event(r: dict[str, Any]) -> Envelope:
    d: Decision = r["_decision"]
    rec = r["record"]
    payload = SubsidyDecidedV1(
        decision_id=r["decision_id"], person_key=r["person_key"], trigger_id=r["trigger_id"],
        trigger_kind=r["trigger_kind"], clause=d.clause, outcome=r["outcome"], amount_fen=r["amount_fen"],
        clauses_cited=list(d.clauses_cited), reasons=[x["code"] for x in rec["reasons"]],
        decided_on=dt.date.today(), year=d.year, district=rec["district"],
        occupation_code=d.occupation_key[0] if d.occupation_key else None,
        level=d.occupation_key[1] if d.occupation_key else None, supersedes=r["supersedes"],
        payee_kind=rec["payee_kind"], payee_ref=rec["payee_ref"],
        parameter_versions=rec["parameter_versions"], department=rec["trigger"].get("department"))
    return new_envelope(payload, key=r["person_key"], producer=PRODUCER, event_id=r["decision_id"])


async def _facts_by_person(session: AsyncSession, persons: list[str]) -> dict[str, list[FactRecord]]:
    out: dict[str, list[FactRecord]] = defaultdict(list)
    rows = await session.execute(sa.select(store.person_facts).where(store.person_facts.c.person_key.in_(persons)))
    for r in rows.mappings():
        out[r["person_key"]].append(FactRecord(r["kind"], r["valid_from"], r["valid_to"], r["attributes"]))
    return out


async def _current_by_person(session: AsyncSession, persons: list[str]) -> dict[str, Current]:
    out: dict[str, Current] = defaultdict(dict)
    d = store.decisions
    rows = await session.execute(sa.select(d).where(d.c.person_key.in_(persons), d.c.current))
    for r in rows.mappings():
        out[r["person_key"]][(r["trigger_id"], r["clause"])] = dict(r) | {"decision": stored_decision(r)}
    return out


def stored_decision(r: Any) -> Decision:
    """Rebuild enough of a stored decision for `reverse()` and the limits."""
    key = r["occupation_key"].rsplit("#", 1) if r["occupation_key"] else None
    occ = (key[0], None if key[1] == "None" else int(key[1])) if key else None
    return Decision(clause=r["clause"], outcome=r["outcome"], amount_fen=r["amount_fen"], reasons=(),
                    steps=(), clauses_cited=tuple(r["record"].get("clauses_cited", [])),
                    parameter_versions=(), subject_id=str(r["trigger_id"]), year=r["year"],
                    occupation_key=occ, counts_toward_cap=r["counts_toward_cap"])
