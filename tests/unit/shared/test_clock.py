"""Policy days are Nantong days: a UTC evening is already the next day there, whatever the host's zone."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from shared.clock import nantong_day, nantong_today


def test_a_utc_evening_is_the_next_day_in_nantong() -> None:
    assert nantong_day(dt.datetime(2020, 12, 31, 16, 0, tzinfo=dt.UTC)) == dt.date(2021, 1, 1)
    assert nantong_day(dt.datetime(2020, 12, 31, 15, 59, tzinfo=dt.UTC)) == dt.date(2020, 12, 31)


def test_today_in_nantong_is_the_shanghai_calendar_day() -> None:
    before = nantong_day(dt.datetime.now(dt.UTC))
    assert nantong_today() in (before, before + dt.timedelta(days=1))


def test_the_hosts_zone_does_not_move_the_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        expected = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
        assert nantong_today() in (expected, expected + dt.timedelta(days=1))
    finally:
        monkeypatch.delenv("TZ")
        os.environ.pop("TZ", None)
        time.tzset()


def test_the_test_clock_file_is_today_once_written_and_the_real_day_before(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shared.clock import CLOCK_FILE_ENV, set_test_clock

    path = tmp_path / "today"
    monkeypatch.setenv(CLOCK_FILE_ENV, str(path))
    monkeypatch.setenv("SKILLSUB_ENV", "test")
    real = nantong_day(dt.datetime.now(dt.UTC))
    assert nantong_today() in (real, real + dt.timedelta(days=1))
    set_test_clock(path, dt.date(2020, 10, 15))
    assert nantong_today() == dt.date(2020, 10, 15)
    set_test_clock(path, dt.date(2020, 10, 16))
    os.utime(path, ns=(1, 2))  # a rewrite is seen (cached by modification time)
    assert nantong_today() == dt.date(2020, 10, 16)


def test_production_refuses_the_test_clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shared.clock import CLOCK_FILE_ENV, set_test_clock
    from shared.settings import Settings

    path = tmp_path / "today"
    set_test_clock(path, dt.date(2020, 10, 15))
    monkeypatch.setenv(CLOCK_FILE_ENV, str(path))
    monkeypatch.setenv("SKILLSUB_ENV", "production")
    with pytest.raises(RuntimeError, match="test clock"):
        nantong_today()
    with pytest.raises(ValueError, match="SKILLSUB_CLOCK_FILE"):
        Settings(skillsub_env="production", skillsub_clock_file=str(path))
