"""Policy dates are calendar days in Nantong (Asia/Shanghai), whatever the server's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

NANTONG = ZoneInfo("Asia/Shanghai")


def nantong_day(moment: dt.datetime) -> dt.date:
    """The Nantong calendar day of an aware timestamp (UTC in storage)."""
    return moment.astimezone(NANTONG).date()


def nantong_today() -> dt.date:
    """Today in Nantong: 2020-05-20T17:00Z is already 2020-05-21 there."""
    return nantong_day(dt.datetime.now(dt.UTC))
