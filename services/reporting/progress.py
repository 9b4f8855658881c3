"""Subsidised-training person-times (T1), apprentices (T4), net of reversals.

A `ProgressTally` folds decision records into counters keyed by (quarter, district, department,
clause); every view reads those counters, so a view costs O(counters), not O(decisions).
A reversal subtracts in the quarter it happened: a report already issued for the approval's quarter
keeps its figures, and the correction shows in the next one (十六).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import Any, Literal

from services.reporting.domain import (
    TargetSet,
    assess_all,
    expected_on,
    quarter_of,
    special_reports,
)
from services.reporting.funds import FundTally
from services.reporting.history import latest_unit, unit_for, unit_name, units_listed
from services.reporting.ratios import RatioCounters, skill_counts

Outcome = Literal["approved", "reversed"]
Dims = tuple[str, str, str, str]  # (quarter, district, department, clause)

TARGET_GROUPS_ZH = {  # the groups named in 一(一)
    "employee": "企业职工",
    "unemployed": "城乡登记失业人员",
    "poor": "建档立卡低收入农户劳动力",
    "disabled": "残疾人",
    "veteran": "退役军人",
    "farmer": "职业农民",
    "student": "在校学生",
    "special_operations": "特种作业人员",
}


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One subsidy decision as reporting sees it (no names, no ID numbers)."""

    decision_id: str
    person_key: str
    clause: str
    outcome: Outcome
    amount_fen: int
    decided_on: date
    district: str
    department: str
    target_groups: frozenset[str] = frozenset()
    # When reporting learnt of it; a report frozen at a cut-off ignores what arrived later.
    recorded_on: date | None = None


@dataclass
class ProgressTally:
    """Mutable fold of decisions. Replays are harmless: a decision counts at most once."""

    t1_clauses: frozenset[str]
    once_per_person_clauses: frozenset[str]
    start: date = date(2019, 1, 1)
    apprentice_clause: str = "四.7"
    person_times: Counter[Dims] = field(default_factory=Counter)
    amounts: Counter[Dims] = field(default_factory=Counter)
    groups: Counter[tuple[str, str]] = field(default_factory=Counter)
    apprentices: Counter[str] = field(default_factory=Counter)  # quarter -> new persons
    _state: dict[str, bool] = field(default_factory=dict)  # decision -> still approved
    _per_person: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def for_targets(cls, targets: TargetSet) -> ProgressTally:
        return cls(targets.t1_clauses, targets.once_per_person_clauses)

    def resume(self, states: Mapping[str, bool], active: Mapping[tuple[str, str], int]) -> ProgressTally:
        """Continue from stored state (the projection loads only the keys a batch touches);
        the counters stay empty, so after `add` they hold this batch's deltas."""
        self._state.update(states)
        self._per_person.update(active)
        return self

    def touched(self) -> tuple[dict[str, bool], dict[tuple[str, str], int]]:
        """The decision states and per-person counts to write back after a batch."""
        return dict(self._state), dict(self._per_person)

    def add(self, record: DecisionRecord) -> int:
        """Apply one record; returns the change in T1 person-times (-1, 0 or 1)."""
        if record.decided_on < self.start:
            return 0
        sign = self._transition(record)
        if sign == 0:
            return 0
        dims = (quarter_of(record.decided_on), record.district, record.department, record.clause)
        self.amounts[dims] += sign * record.amount_fen
        return self._count(record, dims, sign)

    def add_all(self, records: Iterable[DecisionRecord]) -> ProgressTally:
        for record in records:
            self.add(record)
        return self

    def _transition(self, record: DecisionRecord) -> int:
        """+1 on a first approval, -1 on the reversal of an approved decision, else 0."""
        known = self._state.get(record.decision_id)
        if record.outcome == "approved":
            if known is not None:  # replay, or approval arriving after its own reversal
                return 0
            self._state[record.decision_id] = True
            return 1
        self._state[record.decision_id] = False
        return -1 if known else 0

    def _count(self, record: DecisionRecord, dims: Dims, sign: int) -> int:
        step = self._person_step(record, sign)
        if record.clause == self.apprentice_clause and step:
            self.apprentices[dims[0]] += step
        if record.clause not in self.t1_clauses or step == 0:
            return 0
        self.person_times[dims] += step
        for group in record.target_groups:
            self.groups[(dims[0], group)] += step
        return step

    def _person_step(self, record: DecisionRecord, sign: int) -> int:
        """Instalment clauses count a person once: only 0→1 and 1→0 of their active decisions."""
        if record.clause not in self.once_per_person_clauses:
            return sign
        key = (record.person_key, record.clause)
        before = self._per_person[key]
        self._per_person[key] = before + sign
        return int(before + sign > 0) - int(before > 0)


def progress_tally(
    records: Iterable[DecisionRecord], targets: TargetSet, as_of: date
) -> ProgressTally:
    """The tally of everything decided up to and including `as_of`."""
    return ProgressTally.for_targets(targets).add_all(r for r in records if r.decided_on <= as_of)


# --- views -----------------------------------------------------------------------------------


def _sum_by(counter: Counter[Dims], index: int) -> dict[str, int]:
    out: Counter[str] = Counter()
    for dims, value in counter.items():
        out[dims[index]] += value
    return dict(out)


def quarters_between(first: date, last: date) -> list[str]:
    """Quarter labels from `first`'s quarter through `last`'s, in order."""
    labels, year, q = [], first.year, (first.month - 1) // 3
    while (year, q) <= (last.year, (last.month - 1) // 3):
        labels.append(f"{year}Q{q + 1}")
        year, q = (year + 1, 0) if q == 3 else (year, q + 1)
    return labels


def quarter_end(label: str) -> date:
    year, q = int(label[:4]), int(label[5])
    return date(year, 12, 31) if q == 4 else date(year, 3 * q + 1, 1) - timedelta(days=1)


def _rows(totals: dict[str, int], amounts: dict[str, int], key: str) -> list[dict[str, Any]]:
    keys = sorted(set(totals) | set(amounts))
    return [{key: k, "count": totals.get(k, 0), "amount_fen": amounts.get(k, 0)} for k in keys]


def by_district(tally: ProgressTally, units_on: date) -> list[dict[str, Any]]:
    """Person-times and amounts by the units valid on `units_on` (past periods: that period's)."""
    counts = _sum_by(tally.person_times, 1)
    amounts = _sum_by(tally.amounts, 1)
    rolled_c: Counter[str] = Counter()
    rolled_a: Counter[str] = Counter()
    for code in set(counts) | set(amounts):
        unit = unit_for(code, units_on)
        rolled_c[unit] += counts.get(code, 0)
        rolled_a[unit] += amounts.get(code, 0)
    return [
        {"code": u, "name_zh": unit_name(u, units_on), "count": rolled_c[u], "amount_fen": rolled_a[u]}
        for u in units_listed(units_on, rolled_c.keys() | rolled_a.keys())
    ]


def _by_quarter(tally: ProgressTally, targets: TargetSet, as_of: date) -> list[dict[str, Any]]:
    """The trend runs over the plan, to T1's end (2021Q4), not to today: quarters still to come
    carry the expected line and no actual figure. Quarters after the plan's end appear only when
    something was recorded in them (a late decision), marked `in_plan: false`, so no figure is
    dropped; the dashboard's axis ends at the plan's end and names what came after."""
    counts, amounts = _sum_by(tally.person_times, 0), _sum_by(tally.amounts, 0)
    t1 = targets.target("T1")
    plan_end = quarters_between(t1.end, t1.end)[0]
    later = sorted(q for q in counts.keys() | amounts.keys() if q > plan_end)
    rows, running, current = [], 0, quarters_between(as_of, as_of)[0]
    for label in quarters_between(tally.start, quarter_end(later[-1]) if later else t1.end):
        running += counts.get(label, 0)
        to_come = label > current  # labels such as "2021Q3" sort as their quarters do
        day = quarter_end(label) if to_come else min(quarter_end(label), as_of)
        rows.append({"quarter": label, "count": counts.get(label, 0),
                     "amount_fen": amounts.get(label, 0), "cumulative": None if to_come else running,
                     "expected": round(float(expected_on(t1, day)), 2), "in_plan": label <= plan_end})
    return rows


def _by_year(tally: ProgressTally) -> list[dict[str, Any]]:
    counts, amounts = Counter[int](), Counter[int]()
    for dims, value in tally.person_times.items():
        counts[int(dims[0][:4])] += value
    for dims, value in tally.amounts.items():
        amounts[int(dims[0][:4])] += value
    return [{"year": y, "count": counts[y], "amount_fen": amounts[y]}
            for y in sorted(counts.keys() | amounts.keys())]


def _by_group(tally: ProgressTally) -> list[dict[str, Any]]:
    totals: Counter[str] = Counter()
    for (_, group), value in tally.groups.items():
        totals[group] += value
    return [{"group": g, "name_zh": TARGET_GROUPS_ZH.get(g, g), "count": totals[g]}
            for g in sorted(totals)]


def person_times_view(tally: ProgressTally, targets: TargetSet, as_of: date) -> dict[str, Any]:
    """The "person_times" part of /v1/progress."""
    return {
        "total": sum(tally.person_times.values()),
        "amount_fen": sum(tally.amounts.values()),
        "by_year": _by_year(tally),
        "by_quarter": _by_quarter(tally, targets, as_of),
        "by_district": by_district(tally, as_of),
        "by_department": _rows(
            _sum_by(tally.person_times, 2), _sum_by(tally.amounts, 2), "department"
        ),
        "by_clause": _rows(_sum_by(tally.person_times, 3), _sum_by(tally.amounts, 3), "clause"),
        "by_target_group": _by_group(tally),
    }


def progress_view(
    tally: ProgressTally,
    targets: TargetSet,
    as_of: date,
    other_actuals: dict[str, Fraction | int | None] | None = None,
) -> dict[str, Any]:
    """/v1/progress. T1 and T4 come from the tally; T2, T3, T5, T6 from `other_actuals`."""
    actuals: dict[str, Fraction | int | None] = dict(other_actuals or {})
    actuals["T1"] = sum(tally.person_times.values())
    actuals["T4"] = sum(tally.apprentices.values())
    statuses = assess_all(targets, actuals, as_of)
    return {
        "as_of": as_of.isoformat(), "targets_version": targets.version,
        "behind_margin": float(targets.behind_margin),
        "targets": [s.to_dict() for s in statuses],
        "special_reports": [r.to_dict() for r in special_reports(statuses)],
        "person_times": person_times_view(tally, targets, as_of),
        "apprentices": {"persons": actuals["T4"]},
    }


def district_trend(tally: ProgressTally, as_of: date) -> dict[str, Any]:
    """Cumulative person-times per quarter for today's units, old units rolled into successors."""
    quarters = quarters_between(tally.start, as_of)
    per_unit: dict[str, Counter[str]] = {}
    for (quarter, district, _, _), value in tally.person_times.items():
        per_unit.setdefault(latest_unit(district), Counter())[quarter] += value
    series = []
    for unit in units_listed(as_of, per_unit.keys()):
        running, points = 0, []
        for label in quarters:
            running += per_unit.get(unit, Counter())[label]
            points.append(running)
        series.append({"code": unit, "name_zh": unit_name(unit, as_of), "cumulative": points})
    return {"quarters": quarters, "series": series}


# --- the per-district table and T5 -----------------------------------------------------------


def schools_by_unit(schools: Mapping[str, int], on: date) -> dict[str, int]:
    """Technical schools (技工院校) per unit valid on `on`, from counts by recorded district."""
    out: Counter[str] = Counter()
    for district, count in schools.items():
        out[unit_for(district, on)] += count
    return dict(out)


def t5_actual(schools: Mapping[str, int], on: date) -> Fraction:
    """T5 (八.1): share of the units valid on `on` with at least one technical school."""
    units = units_listed(on)
    per_unit = schools_by_unit(schools, on)
    return Fraction(sum(1 for u in units if per_unit.get(u, 0) > 0), len(units))


def t6_actual(figures: Mapping[str, tuple[int, int]]) -> Fraction | None:
    """T6 (十二.3): front-line share of staff-education funds, over the districts reported
    (district -> (total_fen, frontline_fen)); no figure without a reported total."""
    total = sum(t for t, _ in figures.values())
    return Fraction(sum(f for _, f in figures.values()), total) if total else None


def district_view(
    tally: ProgressTally,
    funds: FundTally,
    counters: RatioCounters,
    employed: Mapping[str, int],
    *,
    as_of: date,
    special_counts: bool,
    schools: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """/v1/districts: one row per unit valid on `as_of`, and the per-unit trend."""
    people = {row["code"]: row for row in by_district(tally, as_of)}
    paid = funds.paid_by_unit(as_of)
    skills = skill_counts(counters.stock(as_of.year), employed, lambda d: unit_for(d, as_of),
                          special_counts)
    per_school = schools_by_unit(schools, as_of) if schools is not None else None
    rows = []
    for unit in units_listed(as_of, people.keys() | paid.keys() | skills.keys()):
        ratio = skills[unit].to_dict() if unit in skills else {}
        rows.append({
            "code": unit, "name_zh": unit_name(unit, as_of),
            "person_times": people.get(unit, {}).get("count", 0),
            "amount_fen": people.get(unit, {}).get("amount_fen", 0),
            "paid_fen": paid.get(unit, 0),
            "skilled_share": ratio.get("skilled_share"),
            "high_skilled_share": ratio.get("high_skilled_share"),
            "technical_school": None if per_school is None else per_school.get(unit, 0) > 0,
        })
    return {"as_of": as_of.isoformat(), "units_on": as_of.isoformat(), "districts": rows,
            "trend": district_trend(tally, as_of)}
