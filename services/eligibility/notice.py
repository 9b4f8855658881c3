"""Public notice (公示): an approval is published for N working days before it is payable. Pure.

Working days are the official calendar's (国务院办公厅 holiday notices: holidays and the adjusted
working days 调休), read from PyPI `chinesecalendar`, which knows the years the State Council has
published. A period reaching a year it does not know is a `CalendarUnknown` error, never a guess.

The period is counted as 民法典 art. 201 counts 期间: the day of publication is not counted; the
period begins the next day and ends at the end of its N-th working day. The decision is payable
from the day after that last day, when no objection is open.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import chinese_calendar

WORKING_DAYS_KEY = "notice.working_days"  # params.NOTICE_KEY
IN_NOTICE, OBJECTED, ENDED, WITHDRAWN, AWAITING_CALENDAR = "in_notice", "objected", "ended", "withdrawn", \
    "awaiting_calendar"
STATUSES = (IN_NOTICE, OBJECTED, ENDED, WITHDRAWN, AWAITING_CALENDAR)


class CalendarUnknown(LookupError):
    """The official calendar of a year is not known to the installed `chinesecalendar`."""

    def __init__(self, day: dt.date) -> None:
        super().__init__(f"the official working-day calendar of {day.year} is not known "
                         f"(chinesecalendar {chinese_calendar.__version__}); upgrade it once the "
                         f"State Council publishes that year's holidays")
        self.year = day.year


def is_working_day(day: dt.date) -> bool:
    """A working day of the official calendar: weekdays that are not holidays, and adjusted
    working days (a Saturday or Sunday worked in exchange for a holiday)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise CalendarUnknown(day) from None


def period_end(published_on: dt.date, working_days: int) -> dt.date:
    """The last day of a notice of `working_days` working days published on `published_on`."""
    if working_days < 1:
        raise ValueError("a notice period has at least one working day")
    day, counted = published_on, 0
    while counted < working_days:
        day += dt.timedelta(days=1)
        counted += is_working_day(day)
    return day


def calendar_known_until(today: dt.date, years_ahead: int = 10) -> dt.date:
    """The last day the installed official calendar knows: 31 December of the last year it has,
    from `today`'s year on (the day before `today` when it does not know today's year). The
    alert on `skillsub_notice_calendar_days_ahead` reads it: a notice reaching past it cannot end."""
    year = today.year
    while year <= today.year + years_ahead:
        try:
            is_working_day(dt.date(year, 12, 31))
        except CalendarUnknown:
            break
        year += 1
    return dt.date(year - 1, 12, 31) if year > today.year else today - dt.timedelta(days=1)


def latest_covered_start(day: dt.date, working_days: int) -> dt.date:
    """The latest day on or before `day` from which `working_days` working days can be counted
    with the calendar installed: `day` itself until, each December, the coming year's holidays are
    published (a test or a demo that must see notices end starts its clock there)."""
    while True:
        try:
            period_end(day, working_days)
            return day
        except CalendarUnknown:
            day -= dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class NoticeState:
    """What the end-of-notice step reads about one notice."""

    status: str
    ends_on: dt.date | None
    open_objections: int


def payable_now(n: NoticeState, today: dt.date) -> bool:
    """Payable: the period is over (today is after its last day) and no objection is open."""
    return n.status == IN_NOTICE and n.ends_on is not None and today > n.ends_on and n.open_objections == 0


def may_object(n: NoticeState, today: dt.date) -> bool:
    """Objections are received until the end of the period's last day."""
    return n.status in (IN_NOTICE, OBJECTED, AWAITING_CALENDAR) and (n.ends_on is None or today <= n.ends_on)


def mask_id_last4(resident_id_masked: str | None) -> str | None:
    """The last four characters of a resident ID (the check character included)."""
    return resident_id_masked[-4:] if resident_id_masked else None
