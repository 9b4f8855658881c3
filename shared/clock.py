"""Policy and payment dates are calendar days in Nantong (Asia/Shanghai), whatever the host's zone.

`nantong_today()` is the one way to ask "what day is it" for a policy or payment date; timestamps
stay UTC `timestamptz`. A server in UTC would otherwise call 00:00-07:59 Nantong time "yesterday"
and pick the previous day's funding route or parameter version.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

NANTONG = ZoneInfo("Asia/Shanghai")


def nantong_today(now: dt.datetime | None = None) -> dt.date:
    """Today's calendar date in Nantong; `now` (timezone-aware) for tests and replays."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise ValueError("nantong_today needs a timezone-aware moment")
    return moment.astimezone(NANTONG).date()
