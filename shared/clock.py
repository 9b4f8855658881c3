"""Policy and payment dates are calendar days in Nantong (Asia/Shanghai), whatever the host's zone.

`nantong_today()` is the one way to ask "what day is it" for a policy or payment date; timestamps
stay UTC `timestamptz`. A server in UTC would otherwise call 00:00-07:59 Nantong time "yesterday"
and pick the previous day's funding route or parameter version.
"""

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
