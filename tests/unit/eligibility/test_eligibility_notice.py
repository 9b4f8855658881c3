"""The public notice (公示) period in working days of the official calendar (chinesecalendar)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.eligibility import notice as nt
from services.eligibility.params import default_parameters, load_parameters_text

D = dt.date


def test_an_approval_on_2020_09_30_is_payable_only_after_national_day_and_the_adjusted_saturday() -> None:
    # 2020-10-01..08 are the National Day / Mid-Autumn holiday; Saturday 10-10 was worked in
    # exchange. Counted from 10-01 (publication day not counted): 10-09, 10-10, 10-12, 10-13, 10-14.
    assert not nt.is_working_day(D(2020, 10, 8)) and nt.is_working_day(D(2020, 10, 10))
    end = nt.period_end(D(2020, 9, 30), 5)
    assert end == D(2020, 10, 14)
    state = nt.NoticeState(nt.IN_NOTICE, end, 0)
    assert not nt.payable_now(state, D(2020, 10, 14))
    assert nt.payable_now(state, D(2020, 10, 15))
    assert nt.may_object(state, D(2020, 10, 14)) and not nt.may_object(state, D(2020, 10, 15))


def test_a_plain_week_counts_five_weekdays_and_skips_the_weekend() -> None:
    assert nt.period_end(D(2020, 6, 5), 5) == D(2020, 6, 12)  # Fri -> Mon..Fri of the next week


def test_an_open_objection_keeps_an_ended_period_unpayable() -> None:
    assert not nt.payable_now(nt.NoticeState(nt.IN_NOTICE, D(2020, 6, 12), 1), D(2020, 7, 1))
    assert not nt.payable_now(nt.NoticeState(nt.OBJECTED, D(2020, 6, 12), 0), D(2020, 7, 1))


def test_a_year_the_calendar_does_not_know_is_a_clear_error_not_a_guess() -> None:
    with pytest.raises(nt.CalendarUnknown, match="calendar of 2099 is not known"):
        nt.period_end(D(2099, 3, 2), 5)
    with pytest.raises(nt.CalendarUnknown):
        nt.is_working_day(D(2003, 1, 6))


def test_the_notice_length_is_a_dated_parameter_and_a_file_without_it_is_refused() -> None:
    view = default_parameters().at(D(2020, 9, 30))
    assert view.get(nt.WORKING_DAYS_KEY) == 5
    text = """
set_version: t-no-notice
parameters:
  - key: plan.period_from
    type: date
    values: [{value: 2019-01-01, valid_from: 2019-01-01, valid_to: null, version: v1}]
  - key: plan.period_to
    type: date
    values: [{value: 2021-12-31, valid_from: 2019-01-01, valid_to: null, version: v1}]
"""
    with pytest.raises(ValueError, match="notice.working_days|waiting.facts_days"):
        load_parameters_text(text)


def test_a_run_starts_on_the_latest_day_the_installed_calendar_can_count_its_notices_from() -> None:
    from chinese_calendar import constants

    known = max(constants.holidays).year  # the last year the State Council's notices are installed for
    mid_year = dt.date(known, 6, 1)
    assert nt.latest_covered_start(mid_year, 20) == mid_year
    start = nt.latest_covered_start(dt.date(known + 1, 1, 5), 20)
    assert start.year == known and nt.period_end(start, 20).year == known
    with pytest.raises(nt.CalendarUnknown):
        nt.period_end(start + dt.timedelta(days=1), 20)


def test_the_calendar_is_known_until_31_december_of_its_last_year() -> None:
    from chinese_calendar import constants

    known = max(constants.holidays).year
    assert nt.calendar_known_until(dt.date(known, 12, 2)) == dt.date(known, 12, 31)
    assert nt.calendar_known_until(dt.date(known - 1, 3, 1)) == dt.date(known, 12, 31)
    assert nt.calendar_known_until(dt.date(known + 1, 1, 5)) == dt.date(known + 1, 1, 4)  # nothing ahead
