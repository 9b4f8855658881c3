"""季报/年报 (十六): frozen at the cut-off, identical bytes on re-rendering, Chinese headings."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date

import pytest
from openpyxl import load_workbook

from services.reporting.domain import load_targets
from services.reporting.funds import FundFlow
from services.reporting.progress import DecisionRecord
from services.reporting.ratios import SkillCounts
from services.reporting.reports import (
    build_report,
    figures_from_dict,
    figures_to_dict,
    period_bounds,
    render,
    render_csv,
    render_html,
    render_xlsx,
)

TARGETS = load_targets().on(date(2020, 12, 31))


def rec(did: str, on: date, district: str, outcome: str = "approved", recorded: date | None = None) -> DecisionRecord:
    return DecisionRecord(did, f"p-{did}", "四.4", outcome, 150_000, on, district, "人社局",  # type: ignore[arg-type]
                          frozenset({"employee"}), recorded)


DECISIONS = [
    rec("a", date(2019, 5, 1), "320602"),
    rec("b", date(2020, 2, 1), "320611"),
    rec("c", date(2020, 8, 1), "320611"),
    rec("d", date(2020, 9, 1), "320684"),
]
FLOWS = [FundFlow("unemployment_insurance_surplus", "320602", "四.4", date(2019, 5, 3), "paid", 150_000)]


def quarterly(period: str, cut_off: date, decisions: list[DecisionRecord] = DECISIONS):
    return build_report("quarterly", period, cut_off=cut_off, decisions=decisions, flows=FLOWS,
                        targets=TARGETS)


def table(figures, prefix: str):
    return next(t for t in figures.tables if t.title.startswith(prefix))


def test_period_bounds_cover_quarters_and_years() -> None:
    assert period_bounds("quarterly", "2020Q1") == (date(2020, 1, 1), date(2020, 3, 31))
    assert period_bounds("quarterly", "2020Q4") == (date(2020, 10, 1), date(2020, 12, 31))
    assert period_bounds("annual", "2021") == (date(2021, 1, 1), date(2021, 12, 31))


def test_the_same_figures_render_to_the_same_bytes_even_when_the_clock_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    figures = quarterly("2020Q3", date(2020, 10, 15))
    first = {fmt: render(figures, fmt) for fmt in ("csv", "xlsx", "html")}
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86_400 * 400)
    again = {fmt: render(quarterly("2020Q3", date(2020, 10, 15)), fmt) for fmt in ("csv", "xlsx", "html")}
    assert first == again


def test_the_xlsx_carries_the_cut_off_day_not_the_clock() -> None:
    data = render_xlsx(quarterly("2020Q3", date(2020, 10, 15)))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {i.date_time for i in z.infolist()} == {(2020, 10, 15, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert "2020-10-15T00:00:00Z" in core
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames[0] == "目标进展"
    assert book["分县区"]["A4"].value == "县（市）区"


def test_a_late_correction_stays_out_of_the_issued_report_and_shows_in_the_next() -> None:
    late = rec("a", date(2020, 9, 20), "320602", "reversed", recorded=date(2020, 10, 20))
    issued = quarterly("2020Q3", date(2020, 10, 15))
    regenerated = quarterly("2020Q3", date(2020, 10, 15), DECISIONS + [late])
    assert render_xlsx(issued) == render_xlsx(regenerated)
    next_one = quarterly("2020Q4", date(2021, 1, 15), DECISIONS + [late])
    t1 = table(next_one, "一").rows[0]
    assert t1[0] == "T1" and t1[4] == 3


def test_a_past_quarter_shows_the_units_of_that_quarter() -> None:
    before = {row[1]: row for row in table(quarterly("2020Q1", date(2020, 4, 15)), "二").rows}
    after = {row[1]: row for row in table(quarterly("2020Q3", date(2020, 10, 15)), "二").rows}
    assert before["320611"][0] == "港闸区" and before["320611"][3] == 1 and "320613" not in before
    assert after["320613"][0] == "崇川区" and after["320613"][2:4] == (1, 3)
    assert after["320614"][2] == 1 and "320611" not in after


def test_skill_shares_appear_by_district_when_given() -> None:
    figures = build_report("annual", "2020", cut_off=date(2021, 1, 20), decisions=DECISIONS, flows=FLOWS,
                           targets=TARGETS, skills={"320613": SkillCounts(100, 30, 10)})
    row = {r[1]: r for r in table(figures, "二").rows}["320613"]
    assert row[6:] == ("30.00%", "33.33%")


def test_figures_round_trip_through_the_stored_form_to_the_same_bytes() -> None:
    figures = quarterly("2020Q3", date(2020, 10, 15))
    thawed = figures_from_dict(figures_to_dict(figures))
    assert thawed == figures
    assert render_xlsx(thawed) == render_xlsx(figures)


def test_csv_and_html_have_chinese_headings_and_no_external_resources() -> None:
    figures = quarterly("2020Q3", date(2020, 10, 15))
    text = render_csv(figures).decode("utf-8-sig")
    assert text.startswith("南通市职业技能提升行动（2019～2021年）2020年第3季度季报\r\n")
    assert "一、目标任务进展" in text and "六、资金使用情况（分账核算）" in text
    page = render_html(figures).decode()
    assert "<th>县（市）区</th>" in page and "@media print" in page
    assert "http" not in page and "<script" not in page


def test_fund_use_rows_show_yuan_for_the_period_and_in_total() -> None:
    annual = build_report("annual", "2019", cut_off=date(2020, 1, 20), decisions=DECISIONS, flows=FLOWS,
                          targets=TARGETS)
    assert table(annual, "六").rows == (("失业保险基金结余", "1500.00", "1500.00", "0.00"),)
    later = build_report("annual", "2020", cut_off=date(2021, 1, 20), decisions=DECISIONS, flows=FLOWS,
                         targets=TARGETS)
    assert table(later, "六").rows == (("失业保险基金结余", "0.00", "1500.00", "0.00"),)
