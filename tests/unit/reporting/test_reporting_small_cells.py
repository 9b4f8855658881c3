"""Small cells in reporting's public figures (services/reporting/public.py, docs/small-cells.md):
no hidden cell can be solved from what the progress, districts and report figures publish."""

from __future__ import annotations

from datetime import date
from itertools import count

from services.reporting.domain import load_targets
from services.reporting.funds import fund_tally
from services.reporting.progress import DecisionRecord, district_view, progress_tally, progress_view
from services.reporting.public import person_times_of, public_report, public_trend, public_unit_rows
from services.reporting.queries import public_breakdowns
from services.reporting.ratios import RatioCounters
from services.reporting.reports import build_report, render_csv
from tests.recompute import districts_equations, progress_equations, solvable

TARGETS = load_targets().on(date(2020, 12, 31))
AS_OF = date(2020, 12, 31)
K = 5
TONGZHOU, QIDONG, RUGAO = "320612", "320681", "320682"
QUARTERS = [f"{y}Q{q}" for y in (2019, 2020, 2021) for q in (1, 2, 3, 4)]
_ids = count()


def approvals(district: str, on: date, n: int) -> list[DecisionRecord]:
    out = []
    for _ in range(n):
        i = next(_ids)
        out.append(DecisionRecord(f"d-{i}", f"p-{i}", "四.4", "approved", 150_000, on, district, "人社局",
                                  frozenset({"unemployed"})))
    return out


def public_progress(records: list[DecisionRecord]) -> dict:
    tally = progress_tally(records, TARGETS, AS_OF)
    view = progress_view(tally, TARGETS, AS_OF)
    detail = view.pop("person_times")
    return {"person_times": detail["total"],
            "person_times_detail": public_breakdowns(detail, person_times_of(tally, AS_OF, K))}


def public_districts(records: list[DecisionRecord]) -> dict:
    tally = progress_tally(records, TARGETS, AS_OF)
    view = district_view(tally, fund_tally([], AS_OF), RatioCounters(), {}, as_of=AS_OF, special_counts=False)
    table = person_times_of(tally, AS_OF, K)
    return view | {"districts": public_unit_rows(view["districts"], table, ("person_times", "amount_fen")),
                   "trend": public_trend(view["trend"], table)}


def units(view: dict) -> list[str]:
    return [r["code"] for r in view["districts"]]


def test_a_running_total_does_not_give_away_a_hidden_quarter() -> None:
    # 10, 3, 20, 8 in four quarters: 3 is hidden and 8 (the smallest other) with it. Publishing the
    # running total after the hidden quarter (10, -, 33, -) and the 20 gave 33 - 20 - 10 = 3.
    records = (approvals(TONGZHOU, date(2020, 2, 1), 10) + approvals(TONGZHOU, date(2020, 5, 1), 3)
               + approvals(TONGZHOU, date(2020, 8, 1), 20) + approvals(TONGZHOU, date(2020, 11, 1), 8))
    progress = public_progress(records)
    rows = {r["quarter"]: r for r in progress["person_times_detail"]["by_quarter"]}
    assert rows["2020Q2"]["count"] is None and rows["2020Q2"]["suppressed"] is True
    assert rows["2020Q4"]["count"] is None  # the complement: the smallest other quarter of 2020
    assert rows["2020Q1"]["cumulative"] == 10 and rows["2020Q3"]["cumulative"] is None
    districts = public_districts(records)
    known = solvable(progress_equations(progress, units(districts), QUARTERS)
                     + districts_equations(districts, QUARTERS))
    assert (TONGZHOU, "2020Q2") not in known
    assert all(known[c] == 0 or known[c] >= K for c in known)


def test_a_small_district_cannot_be_recomputed_from_the_trend_the_rows_or_the_totals() -> None:
    # 启东: 2 in 2020Q3. 通州 and 如皋 are large in both quarters; every total is published.
    records = (approvals(TONGZHOU, date(2020, 5, 1), 6) + approvals(TONGZHOU, date(2020, 8, 1), 7)
               + approvals(RUGAO, date(2020, 5, 1), 9) + approvals(RUGAO, date(2020, 8, 1), 5)
               + approvals(QIDONG, date(2020, 8, 1), 2))
    progress, districts = public_progress(records), public_districts(records)
    rows = {r["code"]: r for r in districts["districts"]}
    assert rows[QIDONG]["person_times"] is None and rows[QIDONG]["suppressed"] is True
    trend = {s["code"]: s["cumulative"] for s in districts["trend"]["series"]}
    assert trend[QIDONG][QUARTERS.index("2020Q3")] is None
    # 启东 → 如皋's 5 in 2020Q3 → 如皋's 9 in 2020Q2 → 通州's 6 there; 通州's total 13 beside 启东's 2
    assert trend[TONGZHOU][QUARTERS.index("2020Q1")] == 0 and trend[TONGZHOU][QUARTERS.index("2020Q2")] is None
    assert rows[RUGAO]["person_times"] == 14 and rows[TONGZHOU]["person_times"] is None
    known = solvable(progress_equations(progress, units(districts), QUARTERS)
                     + districts_equations(districts, QUARTERS))
    assert (QIDONG, "2020Q3") not in known
    assert all(known[c] == 0 or known[c] >= K for c in known), known


def test_without_the_suppression_the_same_figures_give_the_small_district_away() -> None:
    """The attacker's arithmetic finds the cell when nothing is hidden (the check can fail)."""
    records = approvals(TONGZHOU, date(2020, 8, 1), 7) + approvals(QIDONG, date(2020, 8, 1), 2)
    tally = progress_tally(records, TARGETS, AS_OF)
    view = district_view(tally, fund_tally([], AS_OF), RatioCounters(), {}, as_of=AS_OF, special_counts=False)
    assert solvable(districts_equations(view, QUARTERS))[(QIDONG, "2020Q3")] == 2


def test_the_public_report_hides_a_small_district_and_the_cells_that_would_give_it_away() -> None:
    records = (approvals(TONGZHOU, date(2020, 8, 1), 7) + approvals(QIDONG, date(2020, 8, 1), 2)
               + approvals(RUGAO, date(2020, 5, 1), 9))
    figures = build_report("quarterly", "2020Q3", cut_off=date(2020, 10, 15), decisions=records, flows=[],
                           targets=TARGETS)
    public = public_report(figures, K)
    district = {r[1]: r for r in next(t for t in public.tables if t.title.startswith("二")).rows}
    assert district[QIDONG][2:6] == ("*", "*", "*", "*")
    # 本期: 7 + 2 + 0 = 9 (the period total is a cell too): 通州's 7 goes with 启东's 2
    assert district[TONGZHOU][2] == "*"
    # 累计: 7, 2, 9 of a total of 18 (table 一's T1): with 启东 hidden, the smallest other goes
    assert sum(1 for r in district.values() if r[3] == "*") >= 2
    exact = {r[1]: r for r in next(t for t in figures.tables if t.title.startswith("二")).rows}
    assert exact[QIDONG][2] == 2  # the issued figures themselves stay exact (bureau, auditors)
    assert "小单元格" in render_csv(public).decode("utf-8-sig")
    assert "小单元格" not in render_csv(figures).decode("utf-8-sig")


def test_a_trend_line_of_merged_units_shows_nothing_the_table_did_not_check() -> None:
    # Before the July 2020 merges, 港闸 (320611) is its own unit in the table, but the trend line is
    # today's 崇川 (320613), which sums it with the old 崇川 (320602).
    as_of = date(2020, 6, 30)
    records = approvals("320611", date(2019, 5, 1), 7) + approvals("320602", date(2019, 5, 1), 2)
    tally = progress_tally(records, TARGETS, as_of)
    view = district_view(tally, fund_tally([], as_of), RatioCounters(), {}, as_of=as_of, special_counts=False)
    trend = public_trend(view["trend"], person_times_of(tally, as_of, K))
    line = next(s["cumulative"] for s in trend["series"] if s["code"] == "320613")
    assert line[:QUARTERS.index("2019Q2")] == [0] and line[QUARTERS.index("2019Q2"):] == [None] * 5


def test_the_public_report_hides_a_skill_share_of_few_people_as_the_live_ratios_do() -> None:
    from services.reporting.ratios import SkillCounts
    from services.reporting.reports import figures_from_dict, figures_to_dict

    records = approvals(TONGZHOU, date(2020, 8, 1), 9) + approvals(QIDONG, date(2020, 8, 1), 9) \
        + approvals(RUGAO, date(2020, 8, 1), 9)
    # 启东: 3 skilled of 1,000 employed — the share and the published employed count give the 3 people
    skills = {TONGZHOU: SkillCounts(20_000, 6_000, 2_000), QIDONG: SkillCounts(1_000, 3, 1),
              RUGAO: SkillCounts(30_000, 9_000, 3_000)}
    figures = build_report("quarterly", "2020Q3", cut_off=date(2020, 10, 15), decisions=records, flows=[],
                           targets=TARGETS, skills=skills)
    assert figures_from_dict(figures_to_dict(figures)) == figures  # the counts are kept with the report
    public = public_report(figures, K)
    district = {r[1]: r for r in next(t for t in public.tables if t.title.startswith("二")).rows}
    assert district[QIDONG][6:] == ("*", "*")
    # one hidden cell in a 1-D table with a published city total: the smallest other goes too
    assert district[TONGZHOU][6:] == ("*", "*") and district[RUGAO][6] != "*"
    assert public.skills is None and "skill_counts" not in figures_to_dict(public)  # never published
    exact = {r[1]: r for r in next(t for t in figures.tables if t.title.startswith("二")).rows}
    assert exact[QIDONG][6] not in ("*", None)
    # a report issued before the counts were kept: its public form shows no share at all
    old = figures_to_dict(figures)
    del old["skill_counts"]
    shares = [r[6:] for r in next(t for t in public_report(figures_from_dict(old), K).tables
                                  if t.title.startswith("二")).rows]
    assert shares and all(s == ("*", "*") for s in shares)


def test_a_reports_cumulative_minus_its_period_does_not_give_away_a_small_figure_before_the_period() -> None:
    # 启东: 2 person-times in Q2 (hidden in the Q2 report), 10 in Q3. Q3's 本期 10 and 累计 12 would
    # be 2 once subtracted, so 累计 goes (and 本期 with it); the Q2 figures stay hidden either way.
    records = (approvals(TONGZHOU, date(2020, 5, 1), 9) + approvals(QIDONG, date(2020, 5, 1), 2)
               + approvals(TONGZHOU, date(2020, 8, 1), 9) + approvals(QIDONG, date(2020, 8, 1), 10)
               + approvals(RUGAO, date(2020, 5, 1), 9) + approvals(RUGAO, date(2020, 8, 1), 9))

    def district(period: str, cut_off: date) -> dict:
        figures = build_report("quarterly", period, cut_off=cut_off, decisions=records, flows=[], targets=TARGETS)
        return {r[1]: r for r in next(t for t in public_report(figures, K).tables if t.title.startswith("二")).rows}

    q2, q3 = district("2020Q2", date(2020, 6, 30)), district("2020Q3", date(2020, 9, 30))
    assert q2[QIDONG][2:4] == ("*", "*")
    assert q3[QIDONG][2:4] == ("*", "*")  # (10 and 12 would be shown by the period rule alone)
    # the attacker's arithmetic over both public reports: no figure before or in the period of 启东
    eqs = []
    for rows, quarters in ((q2, ("2020Q2",)), (q3, ("2020Q2", "2020Q3"))):
        for code, r in rows.items():
            if r[2] != "*":
                eqs.append((frozenset({(code, quarters[-1])}), r[2]))
            if r[3] != "*":
                eqs.append((frozenset((code, q) for q in quarters), r[3]))
    known = solvable(eqs)
    assert (QIDONG, "2020Q2") not in known and (QIDONG, "2020Q3") not in known
