"""Person-times (T1), apprentices (T4), targets' straight-line path and the special report (十六)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.domain import TargetSet, assess, expected_on, load_targets, special_reports
from services.reporting.progress import DecisionRecord, progress_tally, progress_view

TARGETS: TargetSet = load_targets().on(date(2021, 1, 1))


def rec(did: str, outcome: str = "approved", *, person: str = "p1", clause: str = "四.4",
        on: date = date(2020, 3, 1), district: str = "320612", dept: str = "人社局",
        groups: frozenset[str] = frozenset({"employee"}), amount: int = 100_000) -> DecisionRecord:
    return DecisionRecord(did, person, clause, outcome, amount, on, district, dept, groups)  # type: ignore[arg-type]


def test_targets_file_has_t1_to_t6_with_the_plans_goals() -> None:
    ids = [t.id for t in TARGETS.targets]
    assert ids == ["T1", "T2", "T3", "T4", "T5", "T6"]
    assert TARGETS.target("T1").goal == 305_000
    assert TARGETS.target("T2").goal == Fraction("0.28")
    assert TARGETS.target("T3").goal == Fraction("0.32")
    assert TARGETS.target("T4").goal == 5_500


def test_a_reversal_removes_the_person_time_and_its_amount() -> None:
    records = [rec("d1"), rec("d2", person="p2"), rec("d1", "reversed", on=date(2020, 5, 1))]
    view = progress_view(progress_tally(records, TARGETS, date(2020, 6, 30)), TARGETS, date(2020, 6, 30))
    assert view["person_times"]["total"] == 1
    assert view["person_times"]["amount_fen"] == 100_000


def test_a_reversal_counts_in_its_own_quarter_so_old_quarters_keep_their_figures() -> None:
    records = [rec("d1", on=date(2020, 2, 1)), rec("d1", "reversed", on=date(2020, 5, 1))]
    view = progress_view(progress_tally(records, TARGETS, date(2020, 6, 30)), TARGETS, date(2020, 6, 30))
    quarters = {q["quarter"]: q["count"] for q in view["person_times"]["by_quarter"]}
    assert quarters["2020Q1"] == 1 and quarters["2020Q2"] == -1


def test_a_replayed_approval_counts_once_and_a_replayed_reversal_subtracts_once() -> None:
    records = [rec("d1"), rec("d1"), rec("d2", person="p2"), rec("d1", "reversed"), rec("d1", "reversed")]
    tally = progress_tally(records, TARGETS, date(2020, 12, 31))
    assert sum(tally.person_times.values()) == 1


def test_an_approval_arriving_after_its_reversal_is_not_counted() -> None:
    tally = progress_tally([rec("d1", "reversed"), rec("d1")], TARGETS, date(2020, 12, 31))
    assert sum(tally.person_times.values()) == 0


def test_monthly_training_through_work_counts_one_person_time_per_person() -> None:
    months = [rec(f"m{i}", clause="五.3", on=date(2020, i, 5)) for i in range(1, 7)]
    tally = progress_tally(months, TARGETS, date(2020, 12, 31))
    assert sum(tally.person_times.values()) == 1
    assert sum(tally.amounts.values()) == 600_000


def test_living_allowances_are_paid_but_are_not_training_person_times() -> None:
    tally = progress_tally([rec("a", clause="五.2b")], TARGETS, date(2020, 12, 31))
    assert sum(tally.person_times.values()) == 0 and sum(tally.amounts.values()) == 100_000


def test_apprentices_count_distinct_persons_not_yearly_payments() -> None:
    records = [rec("y1", clause="四.7", on=date(2019, 9, 1)), rec("y2", clause="四.7", on=date(2020, 9, 1)),
               rec("y3", clause="四.7", person="p2")]
    view = progress_view(progress_tally(records, TARGETS, date(2020, 12, 31)), TARGETS, date(2020, 12, 31))
    assert view["apprentices"]["persons"] == 2


def test_breakdowns_by_department_clause_and_group_add_up() -> None:
    records = [rec("d1", groups=frozenset({"unemployed", "disabled"})),
               rec("d2", clause="六", dept="应急管理局", person="p2", groups=frozenset({"special_operations"}))]
    pt = progress_view(progress_tally(records, TARGETS, date(2020, 12, 31)), TARGETS,
                       date(2020, 12, 31))["person_times"]
    assert {r["department"]: r["count"] for r in pt["by_department"]} == {"人社局": 1, "应急管理局": 1}
    assert {r["clause"]: r["count"] for r in pt["by_clause"]} == {"四.4": 1, "六": 1}
    groups = {r["group"]: r["count"] for r in pt["by_target_group"]}
    assert groups == {"unemployed": 1, "disabled": 1, "special_operations": 1}
    assert [r["year"] for r in pt["by_year"]] == [2020]


def test_decisions_before_2019_and_after_the_as_of_day_are_left_out() -> None:
    records = [rec("old", on=date(2018, 12, 31)), rec("late", on=date(2021, 1, 2)), rec("ok")]
    assert sum(progress_tally(records, TARGETS, date(2021, 1, 1)).person_times.values()) == 1


def test_the_straight_line_path_reaches_half_the_goal_half_way_through_the_window() -> None:
    t1 = TARGETS.target("T1")
    mid = date.fromordinal(t1.start.toordinal() + ((t1.end - t1.start).days + 1) // 2 - 1)
    assert abs(expected_on(t1, mid) - 152_500) < 200
    assert expected_on(t1, date(2018, 1, 1)) == 0 and expected_on(t1, date(2023, 1, 1)) == 305_000


def test_a_target_behind_by_more_than_the_margin_raises_one_special_report() -> None:
    t1 = TARGETS.target("T1")
    on = date(2020, 6, 30)
    path = expected_on(t1, on)
    margin = TARGETS.behind_margin * t1.goal
    just_inside = assess(t1, path - margin, on, TARGETS.behind_margin)
    just_outside = assess(t1, path - margin - 1, on, TARGETS.behind_margin)
    assert not just_inside.behind and just_outside.behind
    (report,) = special_reports([just_inside, just_outside])
    assert report.key == "T1:2020Q2" and report.to_dict()["clause"] == "十六"


def test_a_share_target_without_a_figure_raises_no_alarm() -> None:
    status = assess(TARGETS.target("T2"), None, date(2021, 6, 30), TARGETS.behind_margin)
    assert not status.behind and status.to_dict()["actual"] is None


def test_progress_view_flags_t1_behind_when_little_was_done() -> None:
    view = progress_view(progress_tally([rec("d1")], TARGETS, date(2020, 9, 30)), TARGETS, date(2020, 9, 30))
    t1 = next(t for t in view["targets"] if t["id"] == "T1")
    assert t1["behind"] and t1["actual"] == 1
    assert [r["target_id"] for r in view["special_reports"]] == ["T1", "T4"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.booleans()), max_size=40))
def test_the_total_equals_the_number_of_decisions_still_approved(ops: list[tuple[int, bool]]) -> None:
    records, alive = [], {}
    for i, (n, approve) in enumerate(ops):
        did = f"d{n}"
        records.append(rec(did, "approved" if approve else "reversed", person=f"p{i}"))
        if approve:
            alive.setdefault(did, True)
        else:
            alive[did] = False
    tally = progress_tally(records, TARGETS, date(2021, 1, 1))
    assert sum(tally.person_times.values()) == sum(alive.values())
    assert sum(tally.person_times.values()) >= 0


def test_t5_and_t6_have_no_figure_without_data_and_t6_uses_the_latest_year_up_to_the_day() -> None:
    from services.reporting.queries import OtherInputs, other_actuals
    from services.reporting.ratios import RatioCounters

    empty = other_actuals(OtherInputs(RatioCounters(), {}), TARGETS, date(2020, 6, 30))
    assert empty["T5"] is None and empty["T6"] is None
    staff = {2019: {"320612": (1000, 650)}, 2021: {"320612": (1000, 100)}}
    got = other_actuals(OtherInputs(RatioCounters(), {}, {"320612": 1}, staff), TARGETS, date(2020, 6, 30))
    assert got["T6"] == Fraction(65, 100)  # 2021's figures are not known on a 2020 day
    assert got["T5"] == Fraction(1, 11)  # 11 county-level units before the July 2020 merges
    later = other_actuals(OtherInputs(RatioCounters(), {}, {}, staff), TARGETS, date(2021, 1, 1))
    assert later["T6"] == Fraction(1, 10) and later["T5"] == 0  # schools recorded, none listed that day



def test_the_quarterly_trend_runs_to_the_plans_end_with_quarters_to_come_left_open() -> None:
    view = progress_view(progress_tally([rec("d1", on=date(2020, 2, 1))], TARGETS, date(2020, 6, 30)), TARGETS,
                         date(2020, 6, 30))
    rows = {q["quarter"]: q for q in view["person_times"]["by_quarter"]}
    assert list(rows)[0] == "2019Q1" and list(rows)[-1] == "2021Q4" and all(r["in_plan"] for r in rows.values())
    assert rows["2020Q2"]["cumulative"] == 1 and rows["2020Q3"]["cumulative"] is None
    assert rows["2021Q4"]["expected"] == TARGETS.target("T1").goal


def test_a_figure_recorded_after_the_plan_gets_its_quarter_marked_outside_the_plan() -> None:
    records = [rec("d1", on=date(2020, 2, 1)), rec("d2", person="p2", on=date(2022, 5, 1))]
    view = progress_view(progress_tally(records, TARGETS, date(2022, 6, 30)), TARGETS, date(2022, 6, 30))
    rows = {q["quarter"]: q for q in view["person_times"]["by_quarter"]}
    assert rows["2021Q4"]["in_plan"] and rows["2021Q4"]["cumulative"] == 1
    assert not rows["2022Q2"]["in_plan"] and rows["2022Q2"]["cumulative"] == 2 and list(rows)[-1] == "2022Q2"
