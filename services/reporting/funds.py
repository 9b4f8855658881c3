"""Fund use (十二: 公开资金使用情况) by source, district, clause and month. No personal data.

The payments projection turns its events into signed `FundFlow`s on two measures: `reserved`
(money set aside for approved decisions not yet paid) and `paid`. Paying a reserved amount is two
flows: reserved −x and paid +x; a claw-back (十四) is paid −x.

Beside the sums, counts of the payments (disbursements) whose money is in them, for the public
form's small-cell suppression (docs/small-cells.md):
- `holders`: per cell and month, the change in how many payments hold the measure there (+1 on a
  flow in, −1 on a flow out). A flow out always undoes the payment's previous flow in, so the sum
  over the months up to a cut is the number of payments holding the measure at the cut: exactly
  those whose money makes up a running total (by source, the grand total).
- `month_payments`: per month and slice (the whole city "*" or one source: the public form breaks
  fund use down by source only, services/reporting/public.py), the payments whose held amount
  changed over the month there (a non-zero net flow): exactly those whose money makes up that
  month's figure of the slice. One paid and recovered in the same
  month adds nothing to the figure and is not counted; one reserved in June and paid in July
  counts in both months, where its amount moved.
Counting contributors whose net is zero as well (every flow, every payment that touched a cell)
would let one person's amount be published beside a crowd of settled ones: 100 payments reserved
and paid in June and one still reserved give a June `reserved` of that one amount.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from services.reporting.history import unit_for, unit_name, units_listed

Measure = Literal["paid", "reserved"]
MEASURES: tuple[Measure, ...] = ("paid", "reserved")
FundDims = tuple[str, str, str, str]  # (month "2020-07", source, district, clause)
MonthSlice = tuple[Measure, str, str, str]  # (measure, month, "source" | "*", value)
CITY = "*"  # the slice of the whole city

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
    payment: str | None = None  # the disbursement it moves (None in flows kept before the id was)


@dataclass
class FundTally:
    paid: Counter[FundDims] = field(default_factory=Counter)
    reserved: Counter[FundDims] = field(default_factory=Counter)
    holders: Counter[tuple[Measure, FundDims]] = field(default_factory=Counter)
    month_payments: Counter[MonthSlice] = field(default_factory=Counter)

    def add(self, flow: FundFlow, nets: dict[str, int] | None = None) -> None:
        """One flow; with `nets` (the flow's payment's net per "measure|month|slice|value",
        non-zero ones only, updated here) the counts too."""
        month = f"{flow.on:%Y-%m}"
        dims = (month, flow.source, flow.district, flow.clause)
        (self.paid if flow.measure == "paid" else self.reserved)[dims] += flow.amount_fen
        if nets is None:
            return
        amount, counts = flow.amount_fen, self.month_payments
        self.holders[(flow.measure, dims)] += (amount > 0) - (amount < 0)
        prefix = f"{flow.measure}|{month}|"
        for dim, value in ((CITY, CITY), ("source", flow.source)):  # what the public form breaks down
            key = f"{prefix}{dim}|{value}"
            before = nets.get(key, 0)
            after = before + amount
            counts[(flow.measure, month, dim, value)] += (after != 0) - (before != 0)
            if after:
                nets[key] = after
            else:
                nets.pop(key, None)

    def fen(self, measure: Measure) -> Counter[FundDims]:
        return self.paid if measure == "paid" else self.reserved

    def add_all(self, flows: Iterable[FundFlow]) -> FundTally:
        for flow in flows:
            self.add(flow)
        return self

    def by(self, index: int, measure: Measure) -> dict[str, int]:
        out: Counter[str] = Counter()
        for dims, value in self.fen(measure).items():
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
