"""Fund use (十二: 公开资金使用情况) by source, district, clause and month. No personal data.

The payments projection turns its events into signed `FundFlow`s on two measures: `reserved`
(money set aside for approved decisions not yet paid) and `paid`. Paying a reserved amount is two
flows: reserved −x and paid +x; a claw-back (十四) is paid −x.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from services.reporting.history import unit_for, unit_name, units_listed

Measure = Literal["paid", "reserved"]
FundDims = tuple[str, str, str, str]  # (month "2020-07", source, district, clause)

SOURCES_ZH = {  # the sources 十二 names, by the payments service's ids; unknown ids show as themselves
    "unemployment_insurance_surplus": "失业保险基金结余",
    "employment_subsidy": "就业补助资金",
    "local_talent": "地方人才经费",
    "industry_development": "行业产业发展经费",
}


@dataclass(frozen=True, slots=True)
class FundFlow:
    """A signed change of one measure, already free of any person's identity."""

    source: str
    district: str
    clause: str
    on: date
    measure: Measure
    amount_fen: int
    recorded_on: date | None = None  # as DecisionRecord.recorded_on


@dataclass
class FundTally:
    paid: Counter[FundDims] = field(default_factory=Counter)
    reserved: Counter[FundDims] = field(default_factory=Counter)

    def add(self, flow: FundFlow) -> None:
        dims = (f"{flow.on:%Y-%m}", flow.source, flow.district, flow.clause)
        (self.paid if flow.measure == "paid" else self.reserved)[dims] += flow.amount_fen

    def add_all(self, flows: Iterable[FundFlow]) -> FundTally:
        for flow in flows:
            self.add(flow)
        return self

    def by(self, index: int, measure: Measure) -> dict[str, int]:
        out: Counter[str] = Counter()
        for dims, value in (self.paid if measure == "paid" else self.reserved).items():
            out[dims[index]] += value
        return dict(out)

    def paid_by_unit(self, units_on: date) -> dict[str, int]:
        out: Counter[str] = Counter()
        for district, value in self.by(2, "paid").items():
            out[unit_for(district, units_on)] += value
        return dict(out)


def fund_tally(flows: Iterable[FundFlow], as_of: date) -> FundTally:
    return FundTally().add_all(f for f in flows if f.on <= as_of)


def _pair_rows(tally: FundTally, index: int, key: str) -> list[dict[str, Any]]:
    paid, reserved = tally.by(index, "paid"), tally.by(index, "reserved")
    return [{key: k, "paid_fen": paid.get(k, 0), "reserved_fen": reserved.get(k, 0)}
            for k in sorted(paid.keys() | reserved.keys())]


def _district_rows(tally: FundTally, units_on: date) -> list[dict[str, Any]]:
    paid: Counter[str] = Counter()
    reserved: Counter[str] = Counter()
    for district, value in tally.by(2, "paid").items():
        paid[unit_for(district, units_on)] += value
    for district, value in tally.by(2, "reserved").items():
        reserved[unit_for(district, units_on)] += value
    return [{"code": u, "name_zh": unit_name(u, units_on), "paid_fen": paid[u],
             "reserved_fen": reserved[u]} for u in units_listed(units_on, paid.keys() | reserved.keys())]


def fund_view(tally: FundTally, as_of: date) -> dict[str, Any]:
    """/v1/funds: public, so only sums."""
    by_source = _pair_rows(tally, 1, "source")
    for row in by_source:
        row["name_zh"] = SOURCES_ZH.get(row["source"], row["source"])
    return {
        "as_of": as_of.isoformat(),
        "totals": {"paid_fen": sum(tally.paid.values()), "reserved_fen": sum(tally.reserved.values())},
        "by_source": by_source,
        "by_district": _district_rows(tally, as_of),
        "by_clause": _pair_rows(tally, 3, "clause"),
        "by_month": _pair_rows(tally, 0, "month"),
    }
