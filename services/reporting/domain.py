"""Reporting domain: targets, the straight-line path check and the special report (十六).

Pure: no I/O except `load_targets`, which reads `targets.yaml`. Sibling modules:
`progress.py` (person-times, apprentices, fund use, district table), `ratios.py` (skilled-worker
ratios as incremental counters) and `reports.py` (季报/年报 as CSV, XLSX, HTML bytes).

JSON shapes served by the reporting API (plain dicts; amounts are integer fen, shares are floats in
0..1 rounded to 4 places, dates ISO strings, district lists ordered by code):

GET /v1/progress  -> progress.progress_view(...)
  {"as_of": "2021-03-31", "targets_version": "targets-2019-112-v1", "behind_margin": 0.05,
   "targets": [TargetStatus.to_dict()],         # see below
   "special_reports": [SpecialReport.to_dict()], # targets behind their path on as_of
   "person_times": {"total": 1200, "amount_fen": 180000000,
     "by_year":    [{"year": 2019, "count": 800, "amount_fen": 0}],
     "by_quarter": [{"quarter": "2019Q1", "count": 10, "amount_fen": 0, "cumulative": 10,
                     "expected": 25416.67}],     # the trend line and its straight-line path
     "by_district":   [{"code": "320613", "name_zh": "崇川区", "count": 3, "amount_fen": 0}],
     "by_department": [{"department": "人社局", "count": 3, "amount_fen": 0}],
     "by_clause":     [{"clause": "四.4", "count": 3, "amount_fen": 0}],
     "by_target_group": [{"group": "unemployed", "name_zh": "城乡登记失业人员", "count": 3}]},
   "apprentices": {"persons": 12}}
  TargetStatus.to_dict():
  {"id": "T1", "clause": "一", "name_zh": "...", "unit_zh": "人次", "kind": "count"|"share",
   "goal": 305000, "actual": 1200 | 0.27 | null, "expected": 1234.5, "progress": 0.0039 | null,
   "expected_progress": 0.0041, "behind": false, "start": "2019-01-01", "end": "2021-12-31"}
  ("progress" = actual ÷ goal; "expected_progress" = expected ÷ goal.)
  SpecialReport.to_dict(): {"key": "T1:2020Q3", "target_id": "T1", "clause": "十六",
   "title_zh": "重大情况专报：...", "on": "2020-09-30", "actual": .., "expected": .., "goal": ..,
   "gap": ..}

GET /v1/ratios -> ratios.ratio_view(...)
  {"year": 2020, "units_on": "2020-12-31", "special_ability_counts": false,
   "goals": {"skilled_share": 0.28, "high_skilled_share": 0.32},
   "city": {"employed": 4600000, "skilled": 1200000, "high_skilled": 380000,
            "skilled_share": 0.2609, "high_skilled_share": 0.3167},
   "districts": [{"code": "320613", "name_zh": "崇川区", "employed": .., "skilled": ..,
                  "high_skilled": .., "skilled_share": 0.27 | null, "high_skilled_share": ..}],
   "trend": [{"year": 2019, "skilled_share": .., "high_skilled_share": ..}]}

GET /v1/funds -> funds.fund_view(...), then public.public_funds (public form) or exact_funds
  {"as_of": "2021-02-28",            # public: the last settled month end on or before the day asked
   "requested_as_of": "2021-03-15", "min_cell": 5 | null (exact: bureau and auditor tokens),
   "totals": {"paid_fen": .. | null, "reserved_fen": .. | null, "paid_suppressed": false,
              "reserved_suppressed": false, "suppressed": false},
   "by_source":   [{"source": "unemployment_insurance_surplus", "name_zh": "失业保险基金结余",
                    "paid_fen": .., "reserved_fen": .., + the three flags}],
   "by_district": [{"code": .., "name_zh": .., "paid_fen": .., "reserved_fen": .., + flags}],  # exact only
   "by_clause":   [{"clause": "四.4", "paid_fen": .., "reserved_fen": .., + flags}],         # exact only
   "by_month":    [{"month": "2020-07", "paid_fen": .., "reserved_fen": .., + flags}]}

GET /v1/districts -> progress.district_view(...)
  {"as_of": "2021-03-31", "units_on": "2021-03-31",
   "districts": [{"code": .., "name_zh": .., "person_times": .., "amount_fen": ..,
                  "paid_fen": ..,                 # bureau and auditor tokens only
                  "skilled_share": .. | null, "high_skilled_share": .. | null,
                  "technical_school": true | false | null}],
   "trend": {"quarters": ["2019Q1", ...],          # districts mapped to today's units
             "series": [{"code": .., "name_zh": .., "cumulative": [1, 5, ...]}]}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

TARGETS_FILE = Path(__file__).with_name("targets.yaml")
REPORT_CLAUSE = "十六"  # 季报、年报制度和重大情况专报制度
TargetKind = Literal["count", "share"]


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One target of the plan (T1–T6) with its window."""

    id: str
    clause: str
    name_zh: str
    unit_zh: str
    kind: TargetKind
    goal: Fraction
    start: date
    end: date
    baseline: Fraction = Fraction(0)


@dataclass(frozen=True, slots=True)
class TargetSet:
    """One dated version of targets.yaml."""

    version: str
    valid_from: date
    behind_margin: Fraction
    t1_clauses: frozenset[str]
    once_per_person_clauses: frozenset[str]
    special_ability_counts_as_skilled: bool
    targets: tuple[TargetSpec, ...]

    def target(self, target_id: str) -> TargetSpec:
        return next(t for t in self.targets if t.id == target_id)


@dataclass(frozen=True, slots=True)
class TargetBook:
    """All versions; `on(day)` picks the one in force."""

    versions: tuple[TargetSet, ...]

    def on(self, day: date) -> TargetSet:
        valid = [v for v in self.versions if v.valid_from <= day]
        # Before the first version (2019 figures read back), the first version is the only one.
        return max(valid, key=lambda v: v.valid_from) if valid else self.versions[0]


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _parse_target(raw: Mapping[str, Any]) -> TargetSpec:
    return TargetSpec(
        id=str(raw["id"]), clause=str(raw["clause"]), name_zh=str(raw["name_zh"]),
        unit_zh=str(raw["unit_zh"]), kind=raw["kind"], goal=Fraction(str(raw["goal"])),
        start=_as_date(raw["start"]), end=_as_date(raw["end"]),
        baseline=Fraction(str(raw.get("baseline", "0"))),
    )


def _parse_version(raw: Mapping[str, Any]) -> TargetSet:
    return TargetSet(
        version=str(raw["version"]), valid_from=_as_date(raw["valid_from"]),
        behind_margin=Fraction(str(raw["behind_margin"])),
        t1_clauses=frozenset(raw["t1_clauses"]),
        once_per_person_clauses=frozenset(raw.get("once_per_person_clauses", ())),
        special_ability_counts_as_skilled=bool(raw.get("special_ability_counts_as_skilled", False)),
        targets=tuple(_parse_target(t) for t in raw["targets"]),
    )


def parse_targets(data: Mapping[str, Any]) -> TargetBook:
    """Build the target book from the parsed YAML document."""
    versions = tuple(sorted((_parse_version(v) for v in data["versions"]), key=lambda v: v.valid_from))
    if not versions:
        raise ValueError("targets file has no versions")
    return TargetBook(versions)


def load_targets(path: Path = TARGETS_FILE) -> TargetBook:
    """The loader: the only function here that reads a file."""
    import yaml

    return parse_targets(yaml.safe_load(path.read_text(encoding="utf-8")))


# --- the straight-line path (十六: 重大情况专报) ---------------------------------------------


def elapsed_share(spec: TargetSpec, on: date) -> Fraction:
    """Share of the window gone by at the end of `on`, clamped to 0..1."""
    total = (spec.end - spec.start).days + 1
    gone = (on - spec.start).days + 1
    return min(Fraction(1), max(Fraction(0), Fraction(gone, total)))


def expected_on(spec: TargetSpec, on: date) -> Fraction:
    """Where the straight line from start (0 or the baseline share) to the goal stands on `on`."""
    base = spec.baseline if spec.kind == "share" else Fraction(0)
    return base + (spec.goal - base) * elapsed_share(spec, on)


def _num(value: Fraction | None, places: int = 4) -> float | int | None:
    if value is None:
        return None
    if value.denominator == 1:
        return int(value)
    return round(float(value), places)


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """A target's position on a day against its straight-line path."""

    spec: TargetSpec
    on: date
    actual: Fraction | None
    expected: Fraction
    behind: bool

    def gap(self) -> Fraction:
        return self.expected - (self.actual or Fraction(0))

    def to_dict(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": s.id, "clause": s.clause, "name_zh": s.name_zh, "unit_zh": s.unit_zh,
            "kind": s.kind, "goal": _num(s.goal), "actual": _num(self.actual),
            "expected": _num(self.expected, 2 if s.kind == "count" else 4),
            "progress": _num(None if self.actual is None else self.actual / s.goal, 6),
            "expected_progress": _num(self.expected / s.goal, 6),
            "behind": self.behind, "start": s.start.isoformat(), "end": s.end.isoformat(),
        }


def assess(spec: TargetSpec, actual: Fraction | int | None, on: date, margin: Fraction) -> TargetStatus:
    """Behind = the path exceeds the actual figure by more than margin × goal. No figure, no alarm."""
    expected = expected_on(spec, on)
    value = None if actual is None else Fraction(actual)
    behind = value is not None and expected - value > margin * spec.goal
    return TargetStatus(spec, on, value, expected, behind)


def assess_all(
    targets: TargetSet, actuals: Mapping[str, Fraction | int | None], on: date
) -> tuple[TargetStatus, ...]:
    """Every target of the version; a target missing from `actuals` has no figure yet."""
    return tuple(assess(t, actuals.get(t.id), on, targets.behind_margin) for t in targets.targets)


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


@dataclass(frozen=True, slots=True)
class SpecialReport:
    """重大情况专报 (十六): raise once per target per quarter (`key` is the idempotency key)."""

    target_id: str
    name_zh: str
    on: date
    actual: Fraction
    expected: Fraction
    goal: Fraction

    @property
    def key(self) -> str:
        return f"{self.target_id}:{quarter_of(self.on)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "target_id": self.target_id, "clause": REPORT_CLAUSE,
            "title_zh": f"重大情况专报：{self.name_zh}进度滞后", "on": self.on.isoformat(),
            "actual": _num(self.actual, 4), "expected": _num(self.expected, 4),
            "goal": _num(self.goal), "gap": _num(self.expected - self.actual, 4),
        }


def special_reports(statuses: Sequence[TargetStatus]) -> tuple[SpecialReport, ...]:
    """The special reports to raise: one per target behind its path."""
    return tuple(
        SpecialReport(s.spec.id, s.spec.name_zh, s.on, s.actual or Fraction(0), s.expected, s.spec.goal)
        for s in statuses
        if s.behind
    )


def share(numerator: int, denominator: int | None) -> Fraction | None:
    """numerator ÷ denominator, or None when the denominator is unknown or zero."""
    return Fraction(numerator, denominator) if denominator else None


def share_float(numerator: int, denominator: int | None) -> float | None:
    value = share(numerator, denominator)
    return None if value is None else round(float(value), 4)
