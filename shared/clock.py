"""Policy and payment dates are calendar days in Nantong (Asia/Shanghai), whatever the host's zone.

`nantong_today()` is the one way to ask "what day is it" for a policy or payment date; timestamps
stay UTC `timestamptz`. A server in UTC would otherwise call 00:00-07:59 Nantong time "yesterday"
and pick the previous day's funding route or parameter version.

A test clock for the platform's end-to-end runs and the demo: with `SKILLSUB_CLOCK_FILE` set,
outside production, a file at that path holding an ISO date (`2026-12-10`) is "today" for every
service that reads the variable; no file there means the real day. The tests move it forward to let
a public notice's working days pass (the notice itself runs and ends as in production: the
end-of-notice step still refuses a notice whose last day is not past). Production refuses the
variable (shared.settings) and this module refuses to read it there.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

NANTONG = ZoneInfo("Asia/Shanghai")
CLOCK_FILE_ENV = "SKILLSUB_CLOCK_FILE"
_cache: dict[str, tuple[int, dt.date]] = {}  # path -> (mtime_ns, day): one stat per call, no read


def nantong_day(moment: dt.datetime) -> dt.date:
    """The Nantong calendar day of an aware timestamp (UTC in storage)."""
    return moment.astimezone(NANTONG).date()


def nantong_today() -> dt.date:
    """Today in Nantong: 2020-05-20T17:00Z is already 2020-05-21 there (or the test clock's day)."""
    path = os.environ.get(CLOCK_FILE_ENV)
    if path:
        pinned = _test_clock(path)
        if pinned is not None:
            return pinned
    return nantong_day(dt.datetime.now(dt.UTC))


def _test_clock(path: str) -> dt.date | None:
    if os.environ.get("SKILLSUB_ENV", "development") == "production":
        raise RuntimeError(f"{CLOCK_FILE_ENV} is a test clock: production refuses it")
    try:
        mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None
    held = _cache.get(path)
    if held is None or held[0] != mtime:
        held = (mtime, dt.date.fromisoformat(Path(path).read_text(encoding="utf-8").strip()))
        _cache[path] = held
    return held[1]


def set_test_clock(path: str | os.PathLike[str], day: dt.date) -> None:
    """Write the test clock's day (tests and the demo only; see the module's note)."""
    Path(path).write_text(day.isoformat() + "\n", encoding="utf-8")
