"""Reporting's read side: counters -> the pure views; reports frozen at issue; special reports.

Every view loads counters only (O(districts × quarters × clauses)), never the events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import store
from services.reporting.domain import (
    SpecialReport,
    TargetSet,
    assess_all,
    quarter_of,
    special_reports,
)
from services.reporting.funds import FundFlow, FundTally, fund_view
from services.reporting.history import unit_for
from services.reporting.progress import (
    DecisionRecord,
    ProgressTally,
    district_view,
    progress_view,
    t5_actual,
    t6_actual,
)
from services.reporting.public import (
    PersonTimes,
    exact_funds,
    fund_cut,
    person_times_of,
    public_by_quarter,
    public_by_year,
    public_funds,
    public_skill_rows,
    public_trend,
    public_unit_rows,
)
from services.reporting.ratios import RatioCounters, city_counts, ratio_view, skill_counts
from services.reporting.reports import (
    ReportFigures,
    ReportKind,
    build_report,
    figures_from_dict,
    figures_to_dict,
    period_bounds,
)
from shared.disclosure import min_cell_on, suppress_1d
from shared.events import Envelope, SpecialReportRaisedV1, derived_event_id, new_envelope

EmployedByYear = dict[int, dict[str, int]]


async def load_tally(session: AsyncSession, targets: TargetSet, as_of: dt.date) -> ProgressTally:
    """The progress counters up to as_of's quarter (a quarter is the counters' grain)."""
    last = quarter_of(as_of)
    tally = ProgressTally.for_targets(targets)
    c = store.progress_counts
    for r in await session.execute(sa.select(c).where(c.c.quarter <= last)):
        dims = (r.quarter, r.district, r.department, r.clause)
        tally.person_times[dims] += r.person_times
        tally.amounts[dims] += r.amount_fen
    g = store.group_counts
    for r in await session.execute(sa.select(g).where(g.c.quarter <= last)):
        tally.groups[(r.quarter, r.grp)] += r.person_times
    a = store.apprentice_counts
    for r in await session.execute(sa.select(a).where(a.c.quarter <= last)):
        tally.apprentices[r.quarter] += r.persons
    return tally


async def load_funds(session: AsyncSession, as_of: dt.date) -> FundTally:
    """Fund use up to as_of's month (a month is the counters' grain), with the payment counts."""
    f, m, tally, last = store.fund_counts, store.fund_month_counts, FundTally(), f"{as_of:%Y-%m}"
    for r in await session.execute(sa.select(f).where(f.c.month <= last)):
        dims = (r.month, r.source, r.district, r.clause)
        tally.paid[dims] += r.paid_fen
        tally.reserved[dims] += r.reserved_fen
        tally.holders[("paid", dims)] += r.paid_holders
        tally.holders[("reserved", dims)] += r.reserved_holders
    for r in await session.execute(sa.select(m).where(m.c.month <= last)):
        tally.month_payments[("paid", r.month, r.dim, r.value)] += r.paid_payments
        tally.month_payments[("reserved", r.month, r.dim, r.value)] += r.reserved_payments
    return tally


async def load_ratio_counters(session: AsyncSession) -> RatioCounters:
    b, counters = store.ratio_buckets, RatioCounters()
    for r in await session.execute(sa.select(b.c.district, b.c.year, b.c.level, b.c.persons)):
        counters.buckets[(r.district, r.year, r.level)] += r.persons
    return counters


async def _latest_loads(session: AsyncSession, table: sa.Table, *columns: str) -> dict[int, dict[str, Any]]:
    """Figures loaded per year and district: the latest load of each wins, earlier ones stay as
    history. One value per district, or a tuple when several columns are asked for."""
    rows = await session.execute(
        sa.select(table.c.year, table.c.district, *(table.c[c] for c in columns))
        .distinct(table.c.year, table.c.district).order_by(table.c.year, table.c.district, table.c.id.desc()))
    out: dict[int, dict[str, Any]] = {}
    for year, district, *values in rows:
        out.setdefault(year, {})[district] = values[0] if len(values) == 1 else tuple(values)
    return out


async def load_employed(session: AsyncSession) -> EmployedByYear:
    return await _latest_loads(session, store.employed_stats, "employed")


def ratio_year(employed: EmployedByYear, as_of: dt.date) -> int:
    """The latest year up to as_of with denominators; as_of's year when none is loaded."""
    known = [y for y in employed if y <= as_of.year]
    return max(known) if known else as_of.year


async def load_schools(session: AsyncSession, on: dt.date) -> dict[str, int] | None:
    """Technical schools (技工院校) listed on `on`, by recorded district; None while the registry
    has recorded no technical school at all (T5 then has no figure rather than a false 0%)."""
    i = store.institutions
    listed = sa.and_(i.c.listed_from <= on, sa.or_(i.c.listed_to.is_(None), i.c.listed_to >= on))
    rows = (await session.execute(
        sa.select(i.c.district, sa.func.count().filter(listed))
        .where(i.c.kind == "technical_school").group_by(i.c.district))).all()
    return {district: n for district, n in rows if n} if rows else None


StaffEducationByYear = dict[int, dict[str, tuple[int, int]]]


async def load_staff_education(session: AsyncSession) -> StaffEducationByYear:
    """(total_fen, frontline_fen) per year and district."""
    return await _latest_loads(session, store.staff_education_stats, "total_fen", "frontline_fen")


@dataclass(frozen=True)
class OtherInputs:
    """What the targets beside T1 and T4 are measured from."""

    counters: RatioCounters
    employed: EmployedByYear
    schools: dict[str, int] | None = None
    staff_education: StaffEducationByYear = field(default_factory=dict)


async def load_other_inputs(session: AsyncSession, on: dt.date) -> OtherInputs:
    return OtherInputs(await load_ratio_counters(session), await load_employed(session),
                       await load_schools(session, on), await load_staff_education(session))


def other_actuals(inputs: OtherInputs, targets: TargetSet, as_of: dt.date) -> dict[str, Fraction | int | None]:
    """T2 and T3 from the ratio counters and the employed denominators; T5 from the registry's
    technical schools; T6 from the latest year of staff-education figures up to as_of's year.
    A target without data has no figure (and raises no alarm)."""
    employed = inputs.employed
    year = ratio_year(employed, as_of)
    city = city_counts(inputs.counters, employed.get(year, {}), year, targets.special_ability_counts_as_skilled)
    skilled = None if not city.employed else Fraction(city.skilled, city.employed)
    high = None if not city.skilled else Fraction(city.high_skilled, city.skilled)
    staff_years = [y for y in inputs.staff_education if y <= as_of.year]
    return {"T2": skilled, "T3": high,
            "T5": None if inputs.schools is None else t5_actual(inputs.schools, as_of),
            "T6": t6_actual(inputs.staff_education[max(staff_years)]) if staff_years else None}


async def progress(session: AsyncSession, targets: TargetSet, as_of: dt.date) -> dict[str, Any]:
    """/v1/progress: the domain's view plus the flat T1 keys (person_times, target, share)."""
    tally = await load_tally(session, targets, as_of)
    others = other_actuals(await load_other_inputs(session, as_of), targets, as_of)
    view = progress_view(tally, targets, as_of, others)
    k = min_cell_on(as_of)
    detail = public_breakdowns(view.pop("person_times"), person_times_of(tally, as_of, k))
    goal = int(targets.target("T1").goal)
    return {"target_id": "T1", "person_times": detail["total"], "target": goal,
            "share": round(detail["total"] / goal, 6), **view, "person_times_detail": detail,
            "current_decisions": await current_decisions(session, k)}


async def current_decisions(session: AsyncSession, k: int) -> list[dict[str, Any]]:
    """Current decisions by outcome (approved, rejected, needs_review, pending while the holder's
    facts are awaited, reversed), small cells suppressed like every public breakdown."""
    rows = [{"outcome": r.outcome, "count": int(r.decisions)}
            for r in await session.execute(sa.select(store.outcome_counts).order_by(store.outcome_counts.c.outcome))
            if r.decisions]
    return suppress_1d(rows, "outcome", values=(), k=k)


# Each breakdown of the public progress adds up to the published total: cells below the small-cell
# threshold, and their complements, are suppressed (shared/disclosure.py). Years, quarters and
# districts come from the one person-times table (services/reporting/public.py) that /v1/districts
# and its trend read too; the clause and target-group rows name disability and low-income status.
_BREAKDOWNS = {"by_department": ("department", ("amount_fen",)), "by_clause": ("clause", ("amount_fen",)),
               "by_target_group": ("group", ())}


def public_breakdowns(detail: dict[str, Any], table: PersonTimes) -> dict[str, Any]:
    k = table.min_cell
    out = dict(detail) | {"min_cell": k, "by_year": public_by_year(detail["by_year"], table),
                          "by_quarter": public_by_quarter(detail["by_quarter"], table),
                          "by_district": public_unit_rows(detail["by_district"], table, ("count", "amount_fen"))}
    for name, (key, values) in _BREAKDOWNS.items():
        out[name] = suppress_1d(detail[name], key, values=values, k=k)
    return out


async def ratios(session: AsyncSession, targets: TargetSet, year: int | None, as_of: dt.date) -> dict[str, Any]:
    """/v1/ratios; skilled and high-skilled persons per unit are counts of people (small cells)."""
    employed, counters = await load_employed(session), await load_ratio_counters(session)
    goals = (float(targets.target("T2").goal), float(targets.target("T3").goal))
    year = year or ratio_year(employed, as_of)
    special = targets.special_ability_counts_as_skilled
    view = ratio_view(counters, employed, year, special_counts=special, goals=goals)
    units_on = dt.date(year, 12, 31)
    skills = skill_counts(counters.stock(year), employed.get(year, {}), lambda d: unit_for(d, units_on), special)
    k = min_cell_on(as_of)
    return view | {"min_cell": k, "districts": public_skill_rows(view["districts"], skills, k)}


async def funds(session: AsyncSession, as_of: dt.date, *, exact: bool, today: dt.date) -> dict[str, Any]:
    """/v1/funds: exact up to as_of for staff; else the public form, cut at the last settled month
    end on or before as_of and suppressed with the threshold in force on that day."""
    if exact:
        return exact_funds(fund_view(await load_funds(session, as_of), as_of)) | {"requested_as_of": as_of.isoformat()}
    cut = fund_cut(as_of, today)
    tally = await load_funds(session, cut)
    return public_funds(fund_view(tally, cut), tally, min_cell_on(cut)) | {"requested_as_of": as_of.isoformat()}


async def districts(session: AsyncSession, targets: TargetSet, as_of: dt.date, *,
                    exact_paid: bool = False) -> dict[str, Any]:
    """/v1/districts: person-times and fen of a unit go with its cell of the person-times table,
    the skill shares with its skill counts, the trend line up to its first hidden quarter. Money
    paid by unit is fund use by district, which the public form of /v1/funds does not break down
    (public.EXACT_ONLY): `paid_fen` only with `exact_paid` (bureau, auditor), live up to as_of."""
    employed = await load_employed(session)
    tally, counters = await load_tally(session, targets, as_of), await load_ratio_counters(session)
    denominators, special = employed.get(ratio_year(employed, as_of), {}), targets.special_ability_counts_as_skilled
    view = district_view(tally, await load_funds(session, as_of), counters, denominators, as_of=as_of,
                         special_counts=special, schools=await load_schools(session, as_of))
    k = min_cell_on(as_of)
    table = person_times_of(tally, as_of, k)
    skills = skill_counts(counters.stock(as_of.year), denominators, lambda d: unit_for(d, as_of), special)
    rows = public_unit_rows(view["districts"], table, ("person_times", "amount_fen"))
    if not exact_paid:
        rows = [{f: v for f, v in r.items() if f != "paid_fen"} for r in rows]
    return view | {"min_cell": k, "districts": public_skill_rows(rows, skills, k),
                   "trend": public_trend(view["trend"], table)}


async def add_employed(session: AsyncSession, year: int, figures: dict[str, int], source: str) -> None:
    await session.execute(sa.insert(store.employed_stats), [
        {"year": year, "district": d, "employed": n, "source": source} for d, n in figures.items()])


async def add_staff_education(session: AsyncSession, year: int, figures: dict[str, tuple[int, int]],
                              source: str) -> None:
    await session.execute(sa.insert(store.staff_education_stats), [
        {"year": year, "district": d, "total_fen": t, "frontline_fen": f, "source": source}
        for d, (t, f) in figures.items()])


# --- reports (十六) ----------------------------------------------------------------------------


async def _records(session: AsyncSession, cut_off: dt.date) -> list[DecisionRecord]:
    r = store.progress_records
    rows = await session.execute(sa.select(r).where(r.c.recorded_on <= cut_off).order_by(r.c.id))
    return [DecisionRecord(str(x.decision_id), x.person_key, x.clause, x.outcome, x.amount_fen,
                           x.decided_on, x.district, x.department, frozenset(x.target_groups),
                           recorded_on=x.recorded_on) for x in rows]


async def _flows(session: AsyncSession, cut_off: dt.date) -> list[FundFlow]:
    f = store.fund_flows
    rows = await session.execute(sa.select(f).where(f.c.recorded_on <= cut_off).order_by(f.c.id))
    return [FundFlow(x.source, x.district, x.clause, x.on, x.measure, x.amount_fen, x.recorded_on,
                     None if x.disbursement_id is None else str(x.disbursement_id)) for x in rows]


async def build(session: AsyncSession, targets: TargetSet, kind: ReportKind, period: str,
                cut_off: dt.date) -> ReportFigures:
    """Figures as of the cut-off. The skill ratios are the counters at issue time (the registry
    feed carries no cut-off of its own); once issued, the report keeps them frozen."""
    _, end = period_bounds(kind, period)
    inputs = await load_other_inputs(session, end)
    skills = skill_counts(inputs.counters.stock(end.year), inputs.employed.get(end.year, {}),
                          lambda d: unit_for(d, end), targets.special_ability_counts_as_skilled)
    return build_report(kind, period, cut_off=cut_off, decisions=await _records(session, cut_off),
                        flows=await _flows(session, cut_off), targets=targets,
                        other_actuals=other_actuals(inputs, targets, end), skills=skills)


async def issue_report(session: AsyncSession, targets: TargetSet, kind: ReportKind, period: str,
                       cut_off: dt.date) -> tuple[uuid.UUID, bool]:
    """Issue once per (kind, period, cut-off): a second request returns the frozen one."""
    rep = store.reports
    existing = await session.scalar(sa.select(rep.c.report_id).where(
        rep.c.kind == kind, rep.c.period == period, rep.c.cut_off == cut_off))
    if existing is not None:
        return existing, False
    figures = await build(session, targets, kind, period, cut_off)
    report_id = uuid.uuid4()
    inserted = await session.scalar(insert(rep).values(
        report_id=report_id, kind=kind, period=period, cut_off=cut_off,
        figures=figures_to_dict(figures)).on_conflict_do_nothing().returning(rep.c.report_id))
    if inserted is None:  # a concurrent request issued it first
        return await issue_report(session, targets, kind, period, cut_off)
    return report_id, True


async def report_figures(session: AsyncSession, report_id: uuid.UUID) -> ReportFigures | None:
    data = await session.scalar(sa.select(store.reports.c.figures)
                                .where(store.reports.c.report_id == report_id))
    return None if data is None else figures_from_dict(data)


# --- 重大情况专报 (十六) ----------------------------------------------------------------------


def special_report_event(report: SpecialReport) -> Envelope:
    d = report.to_dict()
    payload = SpecialReportRaisedV1(
        key=d["key"], target_id=d["target_id"], clause=d["clause"], title_zh=d["title_zh"],
        on=report.on, actual=d["actual"], expected=d["expected"], goal=d["goal"], gap=d["gap"])
    return new_envelope(payload, key=report.key, producer="reporting",
                        event_id=derived_event_id("special_report", report.key))


async def raise_special_reports(session: AsyncSession, targets: TargetSet,
                                as_of: dt.date) -> list[Envelope]:
    """Targets behind their straight-line path by more than the margin: one event per key, ever."""
    tally = await load_tally(session, targets, as_of)
    actuals = other_actuals(await load_other_inputs(session, as_of), targets, as_of)
    actuals["T1"] = sum(tally.person_times.values())
    actuals["T4"] = sum(tally.apprentices.values())
    due = special_reports(assess_all(targets, actuals, as_of))
    if not due:
        return []
    s = store.special_reports
    fresh = set((await session.execute(
        insert(s).values([{"key": r.key, "payload": r.to_dict()} for r in due])
        .on_conflict_do_nothing().returning(s.c.key))).scalars())
    return [special_report_event(r) for r in due if r.key in fresh]


async def business_figures(session: AsyncSession, targets: TargetSet, as_of: dt.date) -> dict[str, Any]:
    """What /metrics shows: totals only, no personal data."""
    tally = await load_tally(session, targets, as_of)
    counters, employed = await load_ratio_counters(session), await load_employed(session)
    special = targets.special_ability_counts_as_skilled
    shares = {}
    for year in employed:
        city = city_counts(counters, employed[year], year, special)
        shares[year] = city.to_dict()
    fund = await load_funds(session, as_of)
    outcomes: Counter[str] = Counter()
    for r in await session.execute(sa.select(store.outcome_counts)):
        outcomes[r.outcome] = r.decisions
    return {"person_times": sum(tally.person_times.values()),
            "apprentices": sum(tally.apprentices.values()), "shares": shares,
            "paid": fund.by(1, "paid"), "reserved": fund.by(1, "reserved"), "outcomes": dict(outcomes)}
