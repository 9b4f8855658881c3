"""Small cells in an issued report's fund table (六、资金使用情况: paid this period and cumulative,
and the reserved balance, by source, city-wide; docs/small-cells.md): the report keeps the
payments behind each figure when issued, the public form hides a figure of fewer than K payments
and the figures that would give it away. An attacker's arithmetic (tests/recompute.py) on what the
public form and an earlier report publish determines no figure of fewer than K payments."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import date
from typing import Any

import pytest

from services.reporting.domain import load_targets
from services.reporting.funds import SOURCES_ZH, FundFlow
from services.reporting.public import public_report
from services.reporting.reports import ReportFigures, build_report, figures_from_dict, figures_to_dict, render_csv
from shared.money import yuan_to_fen
from tests.recompute import solvable

TARGETS = load_targets().on(date(2020, 12, 31))
K = 5
UIS, TALENT, INDUSTRY = "unemployment_insurance_surplus", "local_talent", "industry_development"
TONGZHOU, QIDONG = "320612", "320681"


def paid(source: str, on: date, amount: int = 150_000, district: str = TONGZHOU, clause: str = "四.4",
         then_reserved: bool = False) -> list[FundFlow]:
    """One payment's flows as the projection keeps them: reserved, then paid (or left reserved)."""
    pid = str(uuid.uuid4())
    reserve = FundFlow(source, district, clause, on, "reserved", amount, on, pid)
    if then_reserved:
        return [reserve]
    return [reserve, FundFlow(source, district, clause, on, "reserved", -amount, on, pid),
            FundFlow(source, district, clause, on, "paid", amount, on, pid)]


def history() -> list[FundFlow]:
    """失业保险基金结余: six payments in Q2, seven in Q3, one still reserved; 地方人才经费: one
    disability-route payment (四.5, 启东) in Q3; 行业产业发展经费: six in Q2, six in Q3."""
    flows = [f for _ in range(6) for f in paid(UIS, date(2020, 5, 4))]
    flows += [f for _ in range(7) for f in paid(UIS, date(2020, 8, 4))]
    flows += paid(UIS, date(2020, 9, 1), then_reserved=True)
    flows += paid(TALENT, date(2020, 8, 12), 240_000, QIDONG, "四.5")
    flows += [f for _ in range(6) for f in paid(INDUSTRY, date(2020, 5, 6), 70_000)]
    flows += [f for _ in range(6) for f in paid(INDUSTRY, date(2020, 8, 6), 70_000)]
    return flows


def report(period: str, flows: list[FundFlow]) -> ReportFigures:
    end = {"2020Q2": date(2020, 6, 30), "2020Q3": date(2020, 9, 30)}[period]
    return build_report("quarterly", period, cut_off=end, decisions=[], flows=flows, targets=TARGETS)


def fund_rows(figures: ReportFigures) -> dict[str, tuple[Any, ...]]:
    return {r[0]: r for r in next(t for t in figures.tables if t.title.startswith("六")).rows}


def equations(rows: dict[str, tuple[Any, ...]], period: str, flows: list[FundFlow]) -> list:
    """Base cells (source, "paid", quarter) and (source, "reserved", quarter-end balance): 本期 is the
    quarter's cell, 累计 the quarters up to it, 预留 the balance. The attacker also knows each
    column's total over the sources whenever it holds K payments or more (the city's figures are
    published elsewhere): more than any answer gives."""
    quarters = [q for q in ("2020Q2", "2020Q3") if q <= period]
    counts, exact = payments_per_cell(flows), dict(fund_cells(flows))
    eqs: list = []
    columns: dict[int, set] = {}
    for name, row in rows.items():
        cells = {1: {(name, "paid", period)}, 2: {(name, "paid", q) for q in quarters},
                 3: {(name, "reserved", period)}}
        for j, members in cells.items():
            columns.setdefault(j, set()).update(members)
            if row[j] != "*":
                eqs.append((frozenset(members), yuan_to_fen(row[j])))
    for j, members in columns.items():
        if j != 2 and sum(counts[c] for c in members) >= K:  # (累计: the quarters' own totals)
            eqs.append((frozenset(members), sum(exact.get(c, 0) for c in members)))
    return eqs


def fund_cells(flows: list[FundFlow]) -> Counter:
    """(source as printed, "paid", quarter) -> fen paid in it; (source, "reserved", quarter) -> the
    balance at its end."""
    out: Counter = Counter()
    for f in flows:
        quarter = f"{f.on.year}Q{(f.on.month - 1) // 3 + 1}"
        if f.measure == "paid":
            out[(SOURCES_ZH[f.source], "paid", quarter)] += f.amount_fen
        else:
            for q in ("2020Q2", "2020Q3"):
                if quarter <= q:
                    out[(SOURCES_ZH[f.source], "reserved", q)] += f.amount_fen
    return out


def payments_per_cell(flows: list[FundFlow]) -> Counter:
    """The cells of `fund_cells` -> payments with a non-zero net there (worked out here)."""
    nets: Counter = Counter()
    for f in flows:
        quarter = f"{f.on.year}Q{(f.on.month - 1) // 3 + 1}"
        quarters = [quarter] if f.measure == "paid" else [q for q in ("2020Q2", "2020Q3") if quarter <= q]
        for q in quarters:
            nets[(SOURCES_ZH[f.source], f.measure, q, f.payment)] += f.amount_fen
    return Counter(key[:3] for key, fen in nets.items() if fen)


def test_a_source_paid_once_in_the_period_and_the_figures_that_would_give_it_away_are_hidden() -> None:
    flows = history()
    q2, q3 = report("2020Q2", flows), report("2020Q3", flows)
    assert figures_from_dict(figures_to_dict(q3)) == q3  # the counts are kept with the report
    talent = SOURCES_ZH[TALENT]
    assert (talent, 1, 0, 1, 0) in q3.fund_counts  # 本期, before it, 累计, 预留
    public_q3, public_q2 = fund_rows(public_report(q3, K)), fund_rows(public_report(q2, K))
    assert public_q3[talent][1:3] == ("*", "*")  # one payment: 本期 and, with it, 累计
    assert public_q3[SOURCES_ZH[INDUSTRY]][1] == "*"  # the smallest other 本期 beside the column total
    assert public_q3[SOURCES_ZH[UIS]][3] == "*"  # the one payment still reserved
    assert public_q3[SOURCES_ZH[INDUSTRY]][3] == "0.00"  # a zero singles nobody out (the total goes)
    # what the attacker holds: both quarters' public forms and the column totals
    counts = payments_per_cell(flows)
    solved = solvable(equations(public_q3, "2020Q3", flows) + equations(public_q2, "2020Q2", flows), signed=True)
    small = {c: v for c, v in solved.items() if 0 < counts[c] < K}
    assert small == {}, small
    exact = solvable(equations(fund_rows(q3), "2020Q3", flows) + equations(fund_rows(q2), "2020Q2", flows),
                     signed=True)
    assert exact[(talent, "paid", "2020Q3")] == 240_000  # the check can fail: the exact report gives it
    assert public_report(q3, K).fund_counts is None and "fund_counts" not in figures_to_dict(public_report(q3, K))
    assert "笔" in render_csv(public_report(q3, K)).decode("utf-8-sig")


def test_a_payment_clawed_back_within_the_period_is_no_payment_in_its_figures() -> None:
    # five payments from 地方人才经费 in Q3, a sixth paid and recovered (十四) within the quarter:
    # its net is zero, so the figures hold five payments' money and are published
    flows = [f for _ in range(5) for f in paid(TALENT, date(2020, 8, 3))]
    back = paid(TALENT, date(2020, 8, 5), 240_000, QIDONG, "四.5")
    flows += back + [FundFlow(TALENT, QIDONG, "四.5", date(2020, 9, 2), "paid", -240_000, date(2020, 9, 2),
                              back[0].payment)]
    q3 = report("2020Q3", flows)
    assert q3.fund_counts == ((SOURCES_ZH[TALENT], 5, 0, 5, 0),)
    assert fund_rows(public_report(q3, K))[SOURCES_ZH[TALENT]][1:3] == ("7500.00", "7500.00")


def test_flows_kept_before_they_named_their_payment_count_as_one_payment_at_most() -> None:
    flows = [FundFlow(UIS, TONGZHOU, "四.4", date(2020, 8, 4), "paid", 150_000, date(2020, 8, 4))
             for _ in range(9)]
    q3 = report("2020Q3", flows)
    assert q3.fund_counts == ((SOURCES_ZH[UIS], 1, 0, 1, 0),)
    assert fund_rows(public_report(q3, K))[SOURCES_ZH[UIS]][1:3] == ("*", "*")


def test_a_report_issued_before_the_counts_were_kept_shows_no_fund_amount_publicly() -> None:
    old = figures_to_dict(report("2020Q3", history()))
    del old["fund_counts"]
    rows = fund_rows(public_report(figures_from_dict(old), K))
    assert rows and all(r[1:] == ("*", "*", "*") for r in rows.values())
    assert fund_rows(figures_from_dict(old))[SOURCES_ZH[UIS]][2] == "19500.00"  # exact for the bureau


def random_flows(rng: random.Random) -> list[FundFlow]:
    """Payments from April to September from three sources: most paid, some still reserved, some
    paid and clawed back (十四) a month later."""
    flows: list[FundFlow] = []
    for _ in range(rng.randint(5, 30)):
        source = rng.choice([UIS, UIS, TALENT, INDUSTRY])
        on = date(2020, rng.randint(4, 9), rng.randint(1, 28))
        amount = rng.choice([150_000, 240_000, 70_000])
        fate = rng.random()
        got = paid(source, on, amount, then_reserved=fate < 0.2)
        if fate > 0.85 and on.month < 9:
            back = date(2020, on.month + 1, on.day)
            got.append(FundFlow(source, TONGZHOU, "四.4", back, "paid", -amount, back, got[0].payment))
        flows += got
    return flows


@pytest.mark.parametrize("seed", range(200))
def test_random_histories_give_no_fund_figure_of_few_payments_away_across_two_quarters(seed: int) -> None:
    flows = random_flows(random.Random(seed))
    q2, q3 = report("2020Q2", flows), report("2020Q3", flows)
    public_q2, public_q3 = fund_rows(public_report(q2, K)), fund_rows(public_report(q3, K))
    counts = payments_per_cell(flows)
    solved = solvable(equations(public_q3, "2020Q3", flows) + equations(public_q2, "2020Q2", flows), signed=True)
    assert {c: v for c, v in solved.items() if 0 < counts[c] < K} == {}
