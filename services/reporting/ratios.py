"""Skilled-worker ratios (T2: skilled ÷ employed ≥ 28%; T3: high-skilled ÷ skilled ≥ 32%; 一).

Built for city scale (4.6 million employed, 1.3 million holders) as incremental counters:
- per person, a small `HolderState` (employed?, district, certificates held) — one row per holder;
- per (district, year, level), a signed count of persons whose *best* level entered or left that
  bucket during that year (`BucketDelta`).
The stock at the end of year Y is the sum of deltas of years ≤ Y, so a ratio query reads
O(districts × years × levels) numbers whatever the number of people.

Levels (REFERENCE.md): 5 初级工 … 1 高级技师; a person counts once, at their best (lowest) level.
Skilled = level ≤ 5; high-skilled (高技能人才) = level ≤ 3. A special-ability certificate
(专项职业能力证书) has no level: it sits in bucket SPECIAL and counts as skilled only when the
setting `special_ability_counts_as_skilled` says so (read at query time, so no recount is needed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from services.reporting.domain import share_float
from services.reporting.history import latest_unit, unit_for, unit_name, units_listed

SPECIAL = 6  # 专项职业能力: ranks below 初级工 when choosing a best level
HIGH_SKILLED_MAX_LEVEL = 3
Bucket = tuple[str, int, int]  # (district, year, level)


@dataclass(frozen=True, slots=True)
class CertificateHeld:
    person_key: str
    certificate_id: str
    level: int  # 1..5, or SPECIAL
    on: date


@dataclass(frozen=True, slots=True)
class CertificateRevoked:
    person_key: str
    certificate_id: str
    on: date


@dataclass(frozen=True, slots=True)
class EmploymentChanged:
    """The person's employment status and the district where they count as employed."""

    person_key: str
    employed: bool
    district: str | None  # None until a feeder names it: the person is then not yet counted
    on: date


RatioEvent = CertificateHeld | CertificateRevoked | EmploymentChanged


@dataclass(frozen=True, slots=True)
class HolderState:
    employed: bool = False
    district: str | None = None
    certificates: tuple[tuple[str, int], ...] = ()  # (certificate_id, level), sorted

    def best_level(self) -> int | None:
        return min((level for _, level in self.certificates), default=None)

    def bucket(self) -> tuple[str, int] | None:
        """(district, best level) while the person counts; None when not employed or no level."""
        level = self.best_level()
        if not self.employed or self.district is None or level is None:
            return None
        return (self.district, level)


@dataclass(frozen=True, slots=True)
class BucketDelta:
    district: str
    year: int
    level: int
    delta: int


def _next_state(state: HolderState, event: RatioEvent) -> HolderState:
    if isinstance(event, EmploymentChanged):
        return replace(state, employed=event.employed, district=event.district)
    others = tuple(c for c in state.certificates if c[0] != event.certificate_id)
    if isinstance(event, CertificateHeld):
        others = tuple(sorted(others + ((event.certificate_id, event.level),)))
    return replace(state, certificates=others)


def apply_event(
    state: HolderState | None, event: RatioEvent
) -> tuple[HolderState, tuple[BucketDelta, ...]]:
    """The pure transition the projection runs per event: new state and the bucket moves."""
    before = state or HolderState()
    after = _next_state(before, event)
    old, new = before.bucket(), after.bucket()
    if old == new:
        return after, ()
    year = event.on.year
    moves = []
    if old is not None:
        moves.append(BucketDelta(old[0], year, old[1], -1))
    if new is not None:
        moves.append(BucketDelta(new[0], year, new[1], 1))
    return after, tuple(moves)


@dataclass
class RatioCounters:
    """In-memory form of the two projection tables (holders, buckets); the store mirrors it."""

    holders: dict[str, HolderState] = field(default_factory=dict)
    buckets: Counter[Bucket] = field(default_factory=Counter)

    def apply(self, event: RatioEvent) -> None:
        state, moves = apply_event(self.holders.get(event.person_key), event)
        self.holders[event.person_key] = state
        for m in moves:
            self.buckets[(m.district, m.year, m.level)] += m.delta

    def apply_all(self, events: Iterable[RatioEvent]) -> RatioCounters:
        for event in events:
            self.apply(event)
        return self

    def stock(self, year: int) -> dict[tuple[str, int], int]:
        """Persons by (district as recorded, best level) at the end of `year`."""
        out: Counter[tuple[str, int]] = Counter()
        for (district, y, level), count in self.buckets.items():
            if y <= year:
                out[(district, level)] += count
        return dict(out)


@dataclass(frozen=True, slots=True)
class SkillCounts:
    employed: int | None
    skilled: int
    high_skilled: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "employed": self.employed, "skilled": self.skilled, "high_skilled": self.high_skilled,
            "skilled_share": share_float(self.skilled, self.employed),
            "high_skilled_share": share_float(self.high_skilled, self.skilled),
        }


def _tally_levels(
    stock: Mapping[tuple[str, int], int], to_unit: Any, special_counts: bool
) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for (district, level), count in stock.items():
        skilled = level <= 5 or (level == SPECIAL and special_counts)
        unit = to_unit(district)
        s, h = out.get(unit, (0, 0))
        out[unit] = (s + count * skilled, h + count * (level <= HIGH_SKILLED_MAX_LEVEL))
    return out


def _roll_employed(employed: Mapping[str, int], to_unit: Any) -> dict[str, int]:
    out: Counter[str] = Counter()
    for district, count in employed.items():
        out[to_unit(district)] += count
    return dict(out)


def skill_counts(
    stock: Mapping[tuple[str, int], int], employed: Mapping[str, int], to_unit: Any,
    special_counts: bool,
) -> dict[str, SkillCounts]:
    """Counts per unit after rolling districts with `to_unit`; units without a denominator get None."""
    levels = _tally_levels(stock, to_unit, special_counts)
    denominators = _roll_employed(employed, to_unit)
    units = levels.keys() | denominators.keys()
    return {u: SkillCounts(denominators.get(u), *levels.get(u, (0, 0))) for u in units}


def _city(counts: Mapping[str, SkillCounts]) -> SkillCounts:
    known = [c.employed for c in counts.values() if c.employed is not None]
    return SkillCounts(
        sum(known) if known else None,
        sum(c.skilled for c in counts.values()),
        sum(c.high_skilled for c in counts.values()),
    )


def city_counts(
    counters: RatioCounters, employed: Mapping[str, int], year: int, special_counts: bool
) -> SkillCounts:
    """City totals for one year (the T2 and T3 actuals)."""
    return _city(skill_counts(counters.stock(year), employed, lambda d: d, special_counts))


def ratio_view(
    counters: RatioCounters,
    employed_by_year: Mapping[int, Mapping[str, int]],
    year: int,
    *,
    special_counts: bool,
    goals: tuple[float, float] = (0.28, 0.32),
) -> dict[str, Any]:
    """/v1/ratios for `year`: districts are the units of 31 December of that year."""
    units_on = date(year, 12, 31)
    counts = skill_counts(
        counters.stock(year), employed_by_year.get(year, {}),
        lambda d: unit_for(d, units_on), special_counts,
    )
    districts = [
        {"code": u, "name_zh": unit_name(u, units_on),
         **counts.get(u, SkillCounts(None, 0, 0)).to_dict()}
        for u in units_listed(units_on, counts.keys())
    ]
    return {
        "year": year, "units_on": units_on.isoformat(), "special_ability_counts": special_counts,
        "goals": {"skilled_share": goals[0], "high_skilled_share": goals[1]},
        "city": _city(counts).to_dict(), "districts": districts,
        "trend": ratio_trend(counters, employed_by_year, special_counts),
    }


def ratio_trend(
    counters: RatioCounters, employed_by_year: Mapping[int, Mapping[str, int]], special_counts: bool
) -> list[dict[str, Any]]:
    """City shares per year with a denominator; districts mapped to today's units."""
    rows = []
    for year in sorted(employed_by_year):
        counts = skill_counts(counters.stock(year), employed_by_year[year], latest_unit, special_counts)
        city = _city(counts).to_dict()
        rows.append({"year": year, "skilled_share": city["skilled_share"],
                     "high_skilled_share": city["high_skilled_share"]})
    return rows


def district_trend(
    counters: RatioCounters, employed_by_year: Mapping[int, Mapping[str, int]], special_counts: bool
) -> dict[str, dict[int, SkillCounts]]:
    """Per today's unit and year: the merged units' history summed into their successor."""
    out: dict[str, dict[int, SkillCounts]] = {}
    for year in sorted(employed_by_year):
        counts = skill_counts(counters.stock(year), employed_by_year[year], latest_unit, special_counts)
        for unit, c in counts.items():
            out.setdefault(unit, {})[year] = c
    return out
