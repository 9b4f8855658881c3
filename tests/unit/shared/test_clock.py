"""Policy dates are Nantong calendar days, whatever zone the host runs in."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from shared.clock import nantong_today


def test_a_utc_evening_is_already_the_next_day_in_nantong() -> None:
    assert nantong_today(dt.datetime(2020, 6, 30, 16, 0, tzinfo=dt.UTC)) == dt.date(2020, 7, 1)
    assert nantong_today(dt.datetime(2020, 6, 30, 15, 59, 59, tzinfo=dt.UTC)) == dt.date(2020, 6, 30)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        nantong_today(dt.datetime(2020, 6, 30, 16, 0))


def test_the_hosts_zone_does_not_move_the_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        expected = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
        assert nantong_today() == expected
    finally:
        monkeypatch.delenv("TZ")
        os.environ.pop("TZ", None)
        time.tzset()
