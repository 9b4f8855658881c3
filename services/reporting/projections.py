"""Reporting's projections: one event batch -> counters, one statement per table per batch.

Each projection loads the state of only the keys the batch touches (one query), folds the batch
through the pure modules (progress.ProgressTally, funds.FundTally, ratios.RatioCounters), then
writes the new state and the counter *deltas* (upsert `count = count + delta`). So a view reads
O(counters), never O(events), and a batch costs a handful of round trips whatever its size.
Exactly-once comes from the inbox: these run inside its per-batch transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import store
from services.reporting.domain import TargetSet
from services.reporting.funds import FundFlow, FundTally, Measure
from services.reporting.progress import DecisionRecord, ProgressTally
from services.reporting.ratios import (
    SPECIAL,
    CertificateHeld,
    CertificateRevoked,
    EmploymentChanged,
    HolderState,
    RatioCounters,
    RatioEvent,
)
from shared.clock import nantong_day, nantong_today
from shared.db import any_of, insert_many
from shared.departments import AGGREGATOR
from shared.events import (
    CertificateIssuedV1,
    CertificateIssuedV2,
    CertificateIssuedV3,
    CertificateRevokedV1,
    DisbursementDraftedV1,
    DisbursementStatusChangedV1,
    Event,
    InstitutionRecordedV1,
    Payload,
    PersonFactRecordedV1,
    PersonRegisteredV1,
    SubsidyDecidedV1,
    SubsidyDecidedV2,
    SubsidyDecidedV3,
)
from shared.inbox import route

# A decision names the department (行业主管部门) of its trigger's class; training without one is filed
# under the HR & social-security bureau, which aggregates all training (十二: 人社部门牵头汇总).
DEPARTMENT = AGGREGATOR
UNKNOWN_DISTRICT = "unknown"
LEVELLED_KINDS = frozenset({"skill_level", "vocational_qualification"})  # REFERENCE.md levels
SPECIAL_ABILITY_KIND = "special_ability"  # 专项职业能力证书: bucket SPECIAL (ratios.py)
# Disbursement status -> the fund measure its amount sits in (十二 fund use). waiting, failed,
# cancelled and reversed hold nothing; a claw-back (十四) therefore shows as paid −x.
MEASURE_OF: Mapping[str, Measure] = {"reserved": "reserved", "approved": "reserved",
                                     "released": "reserved", "paid": "paid"}


# Policy dates are Nantong calendar days (shared/clock.py, the one helper every service uses).
today = nantong_today
local_day = nantong_day


async def upsert_add(session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]],
                     keys: Sequence[str], add: Sequence[str]) -> None:
    """Insert rows or add their values to the existing ones: one statement (shared.db.insert_many;
    an executemany ran on the server once per row). Each key at most once in `rows`."""
    sets = ", ".join(f'"{c}" = {table.name}."{c}" + excluded."{c}"' for c in add)
    await insert_many(session, table, rows, conflict=f"ON CONFLICT ({_names(keys)}) DO UPDATE SET {sets}")


async def upsert_replace(session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]],
                         keys: Sequence[str]) -> None:
    """Insert rows or replace the existing ones, in one statement. Each key at most once in `rows`."""
    sets = ", ".join(f'"{c.name}" = excluded."{c.name}"' for c in table.columns if c.name not in keys)
    await insert_many(session, table, rows, conflict=f"ON CONFLICT ({_names(keys)}) DO UPDATE SET {sets}")


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


async def apply(session: AsyncSession, events: Sequence[Event[Any]], targets: TargetSet) -> None:
    """The batch handler's body: each projection sees only the events it reads (HANDLERS)."""
    day = today()
    for handler, group in route(HANDLERS, events):
        await handler(session, group, targets, day)


# --- decisions -> person-times (T1), apprentices (T4) -----------------------------------------


async def apply_decisions(session: AsyncSession, events: Sequence[Event[SubsidyDecidedV1]], targets: TargetSet,
                          day: dt.date) -> None:
    payloads = [e.payload for e in events]
    await _decision_facts(session, payloads)
    ids = {p.decision_id for p in payloads} | {p.supersedes for p in payloads if p.supersedes}
    info = await _decision_info(session, ids)
    states = {k: v["approved"] for k, v in info.items()}  # before the batch adds its own
    records = list(_records(payloads, info, day))
    active = await _active(session, {(r.person_key, r.clause) for r in records})
    tally = ProgressTally.for_targets(targets).resume(states, active)
    tally.add_all(records)
    await _write_progress(session, tally, info, records)


DECISION_FACT_FIELDS = {"decision_id", "person_key", "trigger_id", "clause", "outcome", "amount_fen", "year",
                        "decided_on", "district", "supersedes"}


async def _decision_facts(session: AsyncSession, payloads: Sequence[SubsidyDecidedV1]) -> None:
    rows = [p.model_dump(include=DECISION_FACT_FIELDS) for p in payloads]
    d = store.decisions
    inserted = (await session.execute(insert(d).on_conflict_do_nothing().returning(d.c.decision_id, d.c.outcome),
                                      rows)).all()
    outcomes = Counter(r.outcome for r in inserted)  # the outcome gauge counts current decisions
    superseded = [r["supersedes"] for r in rows if r["supersedes"]]
    if superseded or inserted:  # one statement ends both: replaced now, or arrived after its successor
        later = d.alias("later")
        ended = sa.or_(d.c.decision_id.in_(superseded),
                       sa.and_(d.c.decision_id.in_([r.decision_id for r in inserted]),
                               sa.exists().where(later.c.supersedes == d.c.decision_id)))
        outcomes.subtract(r.outcome for r in await session.execute(
            sa.update(d).where(d.c.current, ended).values(current=False).returning(d.c.outcome)))
    await upsert_add(session, store.outcome_counts,
                     [{"outcome": k, "decisions": v} for k, v in outcomes.items() if v], ["outcome"], ["decisions"])


async def _decision_info(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[str, dict[str, Any]]:
    s = store.decision_state
    rows = await session.execute(sa.select(s).where(any_of(s.c.decision_id, list(ids))))
    return {str(r["decision_id"]): dict(r) for r in rows.mappings()}


def _info_of(p: SubsidyDecidedV1) -> dict[str, Any]:
    return {"decision_id": p.decision_id, "approved": False,
            "person_key": p.person_key, "clause": p.clause, "amount_fen": p.amount_fen,
            "district": p.district or UNKNOWN_DISTRICT, "department": p.department or DEPARTMENT,
            "target_groups": list(p.target_groups)}


def _record(decision_id: str, info: Mapping[str, Any], outcome: str, on: dt.date,
            day: dt.date) -> DecisionRecord:
    return DecisionRecord(decision_id, info["person_key"], info["clause"], outcome,  # type: ignore[arg-type]
                          info["amount_fen"], on, info["district"], info["department"],
                          frozenset(info["target_groups"]), recorded_on=day)


def _records(payloads: Sequence[SubsidyDecidedV1], info: dict[str, dict[str, Any]],
             day: dt.date) -> Iterable[DecisionRecord]:
    """A decision that supersedes another first undoes it (reversal, re-decision or rejection);
    the undo carries the original's amount and place, dated the day of the new decision."""
    for p in payloads:
        if p.supersedes:
            old = str(p.supersedes)
            known = info.setdefault(old, {**_info_of(p), "decision_id": p.supersedes})
            yield _record(old, known, "reversed", p.decided_on, day)
        if p.outcome == "approved":
            fresh = info.setdefault(str(p.decision_id), _info_of(p))
            yield _record(str(p.decision_id), fresh, "approved", p.decided_on, day)


async def _active(session: AsyncSession, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not keys:
        return {}
    a = store.person_clause_active
    persons = list({k[0] for k in keys})
    rows = await session.execute(sa.select(a).where(any_of(a.c.person_key, persons)))
    return {(r.person_key, r.clause): r.active for r in rows}


async def _write_progress(session: AsyncSession, tally: ProgressTally, info: dict[str, dict[str, Any]],
                          records: Sequence[DecisionRecord]) -> None:
    states, active = tally.touched()
    await upsert_replace(session, store.decision_state,
                         [{**v, "approved": states.get(k, False)} for k, v in info.items()], ["decision_id"])
    touched = {(r.person_key, r.clause) for r in records}
    await upsert_replace(session, store.person_clause_active,
                         [{"person_key": k[0], "clause": k[1], "active": v}
                          for k, v in active.items() if k in touched], ["person_key", "clause"])
    if records:
        await insert_many(session, store.progress_records, [_record_row(r) for r in records], conflict="")
    dims = tally.person_times.keys() | tally.amounts.keys()
    await upsert_add(session, store.progress_counts, [
        {"quarter": d[0], "district": d[1], "department": d[2], "clause": d[3],
         "person_times": tally.person_times.get(d, 0), "amount_fen": tally.amounts.get(d, 0)}
        for d in dims], ["quarter", "district", "department", "clause"], ["person_times", "amount_fen"])
    await upsert_add(session, store.group_counts,
                     [{"quarter": q, "grp": g, "person_times": v} for (q, g), v in tally.groups.items()],
                     ["quarter", "grp"], ["person_times"])
    await upsert_add(session, store.apprentice_counts,
                     [{"quarter": q, "persons": v} for q, v in tally.apprentices.items()],
                     ["quarter"], ["persons"])


def _record_row(r: DecisionRecord) -> dict[str, Any]:
    return {"decision_id": uuid.UUID(r.decision_id), "person_key": r.person_key, "clause": r.clause,
            "outcome": r.outcome, "amount_fen": r.amount_fen, "decided_on": r.decided_on,
            "district": r.district, "department": r.department,
            "target_groups": sorted(r.target_groups), "recorded_on": r.recorded_on}


# --- payments -> fund use (十二) ----------------------------------------------------------------


DisbursementEvent = Event[DisbursementDraftedV1] | Event[DisbursementStatusChangedV1]


async def apply_payments(session: AsyncSession, events: Sequence[DisbursementEvent], targets: TargetSet,
                         day: dt.date) -> None:
    s = store.disbursement_state
    ids = list({e.payload.disbursement_id for e in events})
    rows = await session.execute(sa.select(s).where(any_of(s.c.disbursement_id, ids)))
    states = {str(r["disbursement_id"]): dict(r) for r in rows.mappings()}
    flows, tally = fold_payments(events, states, day)
    await upsert_replace(session, s, list(states.values()), ["disbursement_id"])
    if not flows:
        return
    await insert_many(session, store.fund_flows, conflict="", rows=[
        {"source": f.source, "district": f.district, "clause": f.clause, "on": f.on,
         "measure": f.measure, "amount_fen": f.amount_fen, "recorded_on": f.recorded_on,
         "disbursement_id": None if f.payment is None else uuid.UUID(f.payment)} for f in flows])
    await _write_fund_counts(session, tally)


async def _write_fund_counts(session: AsyncSession, tally: FundTally) -> None:
    """Every cell and month the batch touched, zero deltas included (so the rows present do not
    depend on how events fell into batches)."""
    h = tally.holders
    await upsert_add(session, store.fund_counts, [
        {"month": d[0], "source": d[1], "district": d[2], "clause": d[3],
         "paid_fen": tally.paid.get(d, 0), "reserved_fen": tally.reserved.get(d, 0),
         "paid_holders": h.get(("paid", d), 0), "reserved_holders": h.get(("reserved", d), 0)}
        for d in tally.paid.keys() | tally.reserved.keys()],
        ["month", "source", "district", "clause"], ["paid_fen", "reserved_fen", "paid_holders", "reserved_holders"])
    m = tally.month_payments
    await upsert_add(session, store.fund_month_counts, [
        {"month": month, "dim": dim, "value": value, "paid_payments": m.get(("paid", month, dim, value), 0),
         "reserved_payments": m.get(("reserved", month, dim, value), 0)}
        for month, dim, value in sorted({k[1:] for k in m})],
        ["month", "dim", "value"], ["paid_payments", "reserved_payments"])


def fold_payments(events: Iterable[DisbursementEvent], states: dict[str, dict[str, Any]],
                  day: dt.date) -> tuple[list[FundFlow], FundTally]:
    """The batch's flows, and their sums and payment counts; `states` (by disbursement id) move on."""
    flows, tally = [], FundTally()
    for e in events:
        for f in _flows(e, states, day):
            flows.append(f)
            tally.add(f, nets=states[str(e.payload.disbursement_id)]["month_nets"])
    return flows, tally


def _flows(event: DisbursementEvent, states: dict[str, dict[str, Any]], day: dt.date) -> list[FundFlow]:
    """Move the amount out of the measure it sat in and into the new status's measure."""
    p, on = event.payload, local_day(event.occurred_at)
    key = str(p.disbursement_id)
    old = states.get(key)
    new: dict[str, Any] = {"disbursement_id": p.disbursement_id, "measure": MEASURE_OF.get(p.status),
                           "amount_fen": p.amount_fen, "source": p.funding_source,
                           "district": p.district or UNKNOWN_DISTRICT, "clause": p.clause,
                           "month_nets": old["month_nets"] if old is not None else {}}  # carried on
    states[key] = new
    flows = []
    if old is not None and old["measure"] is not None:
        flows.append(FundFlow(old["source"], old["district"], old["clause"], on, old["measure"],
                              -old["amount_fen"], recorded_on=day, payment=key))
    if new["measure"] is not None:
        flows.append(FundFlow(new["source"], new["district"], new["clause"], on, new["measure"],
                              new["amount_fen"], recorded_on=day, payment=key))
    return flows


# --- registry -> skilled-worker ratio counters (T2, T3) ----------------------------------------


RegistryEvent = (Event[CertificateIssuedV1] | Event[CertificateRevokedV1] | Event[PersonFactRecordedV1]
                 | Event[PersonRegisteredV1])


async def apply_registry(session: AsyncSession, events: Sequence[RegistryEvent], targets: TargetSet,
                         day: dt.date) -> None:
    h = store.ratio_holders
    persons = list({e.payload.person_key for e in events})
    rows = await session.execute(sa.select(h).where(any_of(h.c.person_key, persons)))
    counters, homes = RatioCounters(), {}
    for r in rows:
        counters.holders[r.person_key] = HolderState(
            r.employed, r.district, tuple(sorted((c, int(lv)) for c, lv in r.certificates)))
        homes[r.person_key] = r.home_district
    for event in events:
        for change in _ratio_events(event, counters.holders, homes):
            counters.apply(change)
    await upsert_replace(session, h, [
        {"person_key": k, "employed": s.employed, "district": s.district, "home_district": homes.get(k),
         "certificates": [list(c) for c in s.certificates]}
        for k, s in counters.holders.items()] + [
        {"person_key": k, "employed": False, "district": None, "home_district": v, "certificates": []}
        for k, v in homes.items() if k not in counters.holders], ["person_key"])
    await upsert_add(session, store.ratio_buckets, [
        {"district": d, "year": y, "level": lv, "persons": n}
        for (d, y, lv), n in counters.buckets.items() if n], ["district", "year", "level"], ["persons"])


def _ratio_events(event: RegistryEvent, holders: Mapping[str, HolderState],
                  homes: dict[str, str | None]) -> list[RatioEvent]:
    p = event.payload
    person = p.person_key
    held = holders.get(person, HolderState())
    if isinstance(p, CertificateRevokedV1):
        return [CertificateRevoked(person, str(p.certificate_id), p.revoked_on)]
    if isinstance(p, PersonFactRecordedV1):
        return _employment(p, held, homes.get(person))
    out: list[RatioEvent] = []
    if p.district and not homes.get(person):
        homes[person] = p.district
        if held.employed and held.district is None:  # employed somewhere not named till now
            out.append(EmploymentChanged(person, True, p.district, local_day(event.occurred_at)))
    if isinstance(p, CertificateIssuedV1):
        level = _level(p)
        if level is not None:
            out.append(CertificateHeld(person, str(p.certificate_id), level, p.issue_date))
    return out


def _level(p: CertificateIssuedV1) -> int | None:
    """Best-level bucket of a certificate (REFERENCE.md): levels 1–5, SPECIAL, or not a skill."""
    if p.kind in LEVELLED_KINDS and p.level:
        return p.level
    return SPECIAL if p.kind == SPECIAL_ABILITY_KIND else None


def _employment(p: PersonFactRecordedV1, held: HolderState, home: str | None) -> list[RatioEvent]:
    """`employment` facts set employed (ended when valid_to is given); a registered-unemployment
    fact ends it. The district is the fact's own, else where the person already counts, else home."""
    if p.kind not in ("employment", "registered_unemployment"):
        return []
    ends = p.valid_to
    if p.kind == "registered_unemployment" and ends is not None:
        return []  # the end of unemployment says nothing about where the person now works
    employed = p.kind == "employment" and ends is None
    district = p.attributes.get("district") or held.district or home
    return [EmploymentChanged(p.person_key, employed, district, ends or p.valid_from)]


# --- registry -> institutions, for technical schools per district (T5) ------------------------


async def apply_institutions(session: AsyncSession, events: Sequence[Event[InstitutionRecordedV1]],
                             targets: TargetSet, day: dt.date) -> None:
    """The latest record per credit code wins, by event time: a stale or repeated event changes
    nothing, whatever order a redelivery brings them in."""
    latest: dict[str, Event[InstitutionRecordedV1]] = {}
    for e in events:
        code = e.payload.credit_code
        if code not in latest or latest[code].occurred_at < e.occurred_at:
            latest[code] = e
    i = store.institutions
    stmt = insert(i)
    stmt = stmt.on_conflict_do_update(
        index_elements=[i.c.credit_code],
        set_={c: stmt.excluded[c] for c in ("kind", "district", "listed_from", "listed_to", "recorded_at")},
        where=i.c.recorded_at < stmt.excluded.recorded_at)
    await session.execute(stmt, [
        {"credit_code": code, "kind": e.payload.kind, "district": e.payload.district,
         "listed_from": e.payload.listed_from, "listed_to": e.payload.listed_to,
         "recorded_at": e.occurred_at} for code, e in latest.items()])


HANDLERS: dict[type[Payload], Any] = {
    # V2 and V3 add fields only (V3: the notice's last day, which reporting does not read)
    SubsidyDecidedV1: apply_decisions, SubsidyDecidedV2: apply_decisions, SubsidyDecidedV3: apply_decisions,
    DisbursementDraftedV1: apply_payments, DisbursementStatusChangedV1: apply_payments,
    CertificateIssuedV1: apply_registry, CertificateIssuedV2: apply_registry, CertificateIssuedV3: apply_registry,
    CertificateRevokedV1: apply_registry,
    PersonFactRecordedV1: apply_registry, PersonRegisteredV1: apply_registry,
    InstitutionRecordedV1: apply_institutions,
}
