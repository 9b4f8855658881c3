"""Roll-ups across the 2020-07 merges, and the skilled-worker ratio counters (T2, T3)."""

from __future__ import annotations

import random
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.domain import load_targets
from services.reporting.funds import FundFlow, fund_tally, fund_view
from services.reporting.history import latest_unit, unit_for
from services.reporting.progress import DecisionRecord, district_view, progress_tally
from services.reporting.ratios import (
    SPECIAL,
    CertificateHeld,
    CertificateRevoked,
    EmploymentChanged,
    RatioCounters,
    city_counts,
    ratio_view,
)

TARGETS = load_targets().on(date(2021, 1, 1))
OLD_CHONGCHUAN, GANGZHA, NEW_CHONGCHUAN, HAIMEN_CITY, HAIMEN_DISTRICT = (
    "320602", "320611", "320613", "320684", "320614")


def test_an_old_unit_maps_to_its_successor_only_after_the_merge() -> None:
    assert unit_for(GANGZHA, date(2020, 6, 30)) == GANGZHA
    assert unit_for(GANGZHA, date(2020, 7, 1)) == NEW_CHONGCHUAN
    assert unit_for(NEW_CHONGCHUAN, date(2019, 1, 1)) == NEW_CHONGCHUAN  # cannot be split back
    assert latest_unit(HAIMEN_CITY) == HAIMEN_DISTRICT
    assert unit_for("999999", date(2020, 1, 1)) == "999999"


def decision(did: str, district: str, on: date) -> DecisionRecord:
    return DecisionRecord(did, did, "四.4", "approved", 1000, on, district, "人社局", frozenset())


def test_a_report_for_a_past_period_shows_the_units_of_that_period() -> None:
    records = [decision("a", OLD_CHONGCHUAN, date(2019, 5, 1)), decision("b", GANGZHA, date(2020, 2, 1))]
    tally = progress_tally(records, TARGETS, date(2020, 3, 31))
    from services.reporting.progress import by_district

    before = {r["code"]: r["count"] for r in by_district(tally, date(2020, 3, 31))}
    after = {r["code"]: r["count"] for r in by_district(tally, date(2020, 12, 31))}
    assert before[OLD_CHONGCHUAN] == 1 and before[GANGZHA] == 1 and NEW_CHONGCHUAN not in before
    assert after[NEW_CHONGCHUAN] == 2 and OLD_CHONGCHUAN not in after and GANGZHA not in after


def test_trend_lines_put_merged_units_history_into_todays_unit() -> None:
    records = [decision("a", OLD_CHONGCHUAN, date(2019, 2, 1)), decision("b", GANGZHA, date(2019, 8, 1)),
               decision("c", NEW_CHONGCHUAN, date(2020, 8, 1))]
    as_of = date(2020, 9, 30)
    view = district_view(progress_tally(records, TARGETS, as_of), fund_tally([], as_of), RatioCounters(),
                         {}, as_of=as_of, special_counts=False)
    series = {s["code"]: s["cumulative"] for s in view["trend"]["series"]}
    assert series[NEW_CHONGCHUAN] == [1, 1, 2, 2, 2, 2, 3]
    assert GANGZHA not in series
    assert {r["code"] for r in view["districts"]} >= {NEW_CHONGCHUAN, HAIMEN_DISTRICT}


def held(person: str, cert: str, level: int, on: date = date(2019, 6, 1)) -> CertificateHeld:
    return CertificateHeld(person, cert, level, on)


def employed(person: str, district: str = "320612", on: date = date(2019, 1, 1), yes: bool = True) -> EmploymentChanged:
    return EmploymentChanged(person, yes, district, on)


def test_a_person_counts_once_at_their_best_level() -> None:
    counters = RatioCounters().apply_all([employed("p"), held("p", "c1", 5), held("p", "c2", 3),
                                          held("p", "c3", 4)])
    assert {k: v for k, v in counters.stock(2019).items() if v} == {("320612", 3): 1}
    c = city_counts(counters, {"320612": 10}, 2019, special_counts=False)
    assert (c.skilled, c.high_skilled) == (1, 1)


def test_a_rising_best_level_moves_the_person_in_the_year_it_rose() -> None:
    counters = RatioCounters().apply_all([employed("p"), held("p", "c1", 4, date(2019, 3, 1)),
                                          held("p", "c2", 2, date(2020, 3, 1))])
    assert city_counts(counters, {"320612": 1}, 2019, False).high_skilled == 0
    assert city_counts(counters, {"320612": 1}, 2020, False).high_skilled == 1


def test_revoking_the_best_certificate_falls_back_to_the_next_best() -> None:
    counters = RatioCounters().apply_all([employed("p"), held("p", "c1", 4), held("p", "c2", 3),
                                          CertificateRevoked("p", "c2", date(2019, 9, 1))])
    c = city_counts(counters, {"320612": 1}, 2019, False)
    assert (c.skilled, c.high_skilled) == (1, 0)


def test_people_not_employed_do_not_count() -> None:
    counters = RatioCounters().apply_all([held("p", "c1", 3), employed("q"), held("q", "c2", 5),
                                          employed("q", on=date(2019, 8, 1), yes=False)])
    assert city_counts(counters, {"320612": 5}, 2019, False).skilled == 0


def test_special_ability_certificates_count_as_skilled_only_when_the_setting_says_so() -> None:
    counters = RatioCounters().apply_all([employed("p"), held("p", "c1", SPECIAL)])
    assert city_counts(counters, {"320612": 4}, 2019, False).skilled == 0
    assert city_counts(counters, {"320612": 4}, 2019, True).skilled == 1
    assert TARGETS.special_ability_counts_as_skilled is False


def test_the_ratio_view_uses_the_units_of_the_year_and_rolls_history_into_the_trend() -> None:
    counters = RatioCounters().apply_all([
        employed("a", GANGZHA), held("a", "1", 3), employed("b", OLD_CHONGCHUAN), held("b", "2", 5)])
    employed_by_year = {2019: {GANGZHA: 10, OLD_CHONGCHUAN: 10}, 2020: {NEW_CHONGCHUAN: 20}}
    y2019 = ratio_view(counters, employed_by_year, 2019, special_counts=False)
    y2020 = ratio_view(counters, employed_by_year, 2020, special_counts=False)
    rows19 = {r["code"]: r for r in y2019["districts"]}
    rows20 = {r["code"]: r for r in y2020["districts"]}
    assert rows19[GANGZHA]["skilled_share"] == 0.1 and rows19[GANGZHA]["high_skilled_share"] == 1.0
    assert rows20[NEW_CHONGCHUAN]["skilled"] == 2 and rows20[NEW_CHONGCHUAN]["skilled_share"] == 0.1
    assert GANGZHA not in rows20
    assert y2020["trend"] == [{"year": 2019, "skilled_share": 0.1, "high_skilled_share": 0.5},
                              {"year": 2020, "skilled_share": 0.1, "high_skilled_share": 0.5}]
    assert y2020["city"]["employed"] == 20


def test_a_move_between_districts_moves_the_person_between_buckets() -> None:
    counters = RatioCounters().apply_all([employed("p", "320623"), held("p", "c", 4),
                                          employed("p", "320681", date(2020, 2, 1))])
    stock = {k: v for k, v in counters.stock(2020).items() if v}
    assert stock == {("320681", 4): 1}


events = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4), st.integers(1, 6),
                            st.sampled_from(["held", "revoked", "job", "nojob"]),
                            st.sampled_from(["320612", "320623", GANGZHA])), max_size=60)


@settings(max_examples=80, deadline=None)
@given(events)
def test_counters_equal_a_recount_from_the_final_person_states(ops: list[tuple[int, int, int, str, str]]) -> None:
    counters = RatioCounters()
    for person, cert, level, kind, district in ops:
        p, c, on = f"p{person}", f"c{cert}", date(2019 + person % 3, 1, 1)
        if kind == "held":
            counters.apply(CertificateHeld(p, c, level, on))
        elif kind == "revoked":
            counters.apply(CertificateRevoked(p, c, on))
        else:
            counters.apply(EmploymentChanged(p, kind == "job", district, on))
    expected: dict[tuple[str, int], int] = {}
    for state in counters.holders.values():
        if (bucket := state.bucket()) is not None:
            expected[bucket] = expected.get(bucket, 0) + 1
    assert {k: v for k, v in counters.stock(2021).items() if v} == expected


def test_fund_view_sums_by_source_district_clause_and_month_without_personal_data() -> None:
    flows = [FundFlow("unemployment_insurance_surplus", GANGZHA, "四.4", date(2020, 5, 3), "reserved", 500),
             FundFlow("unemployment_insurance_surplus", GANGZHA, "四.4", date(2020, 8, 3), "reserved", -500),
             FundFlow("unemployment_insurance_surplus", GANGZHA, "四.4", date(2020, 8, 3), "paid", 500),
             FundFlow("local_talent", "320612", "四.5a", date(2020, 8, 9), "paid", 300)]
    view = fund_view(fund_tally(flows, date(2020, 12, 31)), date(2020, 12, 31))
    assert view["totals"] == {"paid_fen": 800, "reserved_fen": 0}
    assert {r["source"]: r["paid_fen"] for r in view["by_source"]} == {"local_talent": 300,
                                                                     "unemployment_insurance_surplus": 500}
    assert {r["code"]: r["paid_fen"] for r in view["by_district"]}[NEW_CHONGCHUAN] == 500
    assert [r["month"] for r in view["by_month"]] == ["2020-05", "2020-08"]
    assert "person" not in repr(view)


def test_a_ratio_query_does_not_grow_with_the_number_of_people() -> None:
    rng = random.Random(7)
    counters = RatioCounters()
    districts = ["320612", "320623", "320681", "320682", "320685", GANGZHA, OLD_CHONGCHUAN]
    for i in range(20_000):
        counters.apply(EmploymentChanged(f"p{i}", True, rng.choice(districts), date(2019, 1, 1)))
        counters.apply(CertificateHeld(f"p{i}", "c", rng.randint(1, 6), date(2019 + i % 3, 5, 1)))
    assert len(counters.buckets) <= len(districts) * 3 * 6
