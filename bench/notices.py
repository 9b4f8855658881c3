"""What the benches do so their approvals can be paid: list the issuer in the institution catalogue
(九, 十七: a certificate from an unlisted institution is refused `institution_not_listed`), and let
the public notices (公示) run their course on the platform's test clock (shared/clock.py), then have
the bureau end them, as the end-of-notice step does each minute in production.

In production a day's approvals end their notices together, some working days after they were
published; the bench does the same in one step once every certificate is decided, and times the
drafting that follows apart from the flow of certificates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from services.eligibility.notice import latest_covered_start
from shared.clock import nantong_today, set_test_clock

# Working days a run's notices may need from its first day: a notice, a re-decision's second
# notice after it, and room for the clock moves between them (tests/e2e/platform_harness.py too).
RUN_WORKING_DAYS = 20


def start_clock(path: str | Path) -> None:
    """Leave the test clock on the real day while the installed official calendar can count a
    run's notices from it; in the weeks before the State Council publishes the coming year's
    holidays, start it on the latest day it can (otherwise every notice would wait for it)."""
    today = nantong_today()
    start = latest_covered_start(today, RUN_WORKING_DAYS)
    if start != today:
        set_test_clock(path, start)


def clock_day(path: str | Path) -> dt.date:
    """The platform's day: its test clock's, or the real one while the file is not written."""
    p = Path(path)
    return dt.date.fromisoformat(p.read_text().strip()) if p.exists() else nantong_today()


def listing(institution_code: str, occupation_code: str, levels: list[int], version: str) -> dict[str, Any]:
    """An institution-catalogue version listing one institution for one occupation since 2019."""
    return {"listing_version": version, "entries": [
        {"institution_code": institution_code, "valid_from": "2019-01-01", "credit_rating": "A",
         "occupations": [{"occupation_code": occupation_code, "edition": "2015", "levels": levels}]}]}


async def end_notices(client: httpx.AsyncClient, eligibility: str, bureau: dict[str, str],
                      clock_file: str | Path) -> int:
    """Move the test clock past the open notices' last day (never back) and end every notice that
    is over; returns how many the bureau's step made payable."""
    r = await client.get(f"{eligibility}/v1/public/notices", params={"limit": 50})
    r.raise_for_status()
    open_ = r.json()  # the most recently published first: the latest last days
    if not open_:
        return 0
    if any(n["ends_on"] is None for n in open_):
        raise RuntimeError("notices wait for the official calendar: the test clock is past its years")
    after = max(dt.date.fromisoformat(n["ends_on"]) for n in open_) + dt.timedelta(days=1)
    set_test_clock(clock_file, max(after, clock_day(clock_file)))
    made = 0
    while True:
        r = await client.post(f"{eligibility}/v1/notices/end-due", headers=bureau)
        if r.status_code != 200:
            raise RuntimeError(f"end-due: {r.status_code} {r.text[:300]}")
        if not r.json()["payable"]:
            return made
        made += r.json()["payable"]
