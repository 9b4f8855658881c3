"""The dashboard in a real headless Chromium: the numbers on screen equal the API's.

The reporting app runs under uvicorn on a localhost port (in a thread, against the real embedded
PostgreSQL and broker); events reach it over the broker as they would from the other services.
Chromium loads /dashboard (no network beyond localhost), the test reads the rendered DOM and saves
a screenshot to artifacts/dashboard.png.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.reporting.main import create_app
from shared.clock import CLOCK_FILE_ENV, nantong_today, set_test_clock
from tests.conftest import ROOT, bearer
from tests.e2e.browser_helpers import running
from tests.integration.reporting.helpers import (
    certificate,
    decided,
    disbursement,
    employed,
    eventually,
    publish,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.usefixtures("drop_test_databases"),
              pytest.mark.skipif(CHROMIUM is None and not os.environ.get("SKILLSUB_REQUIRE_BROWSER"),
                                 reason="chromium is not installed "
                                 "(Debian chromium + chromium-driver; run scripts/test-deps.sh)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=15000"]


@pytest.fixture
def server(settings: Any) -> Iterator[str]:
    with running(create_app(settings)) as url:
        yield url


async def chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="skillsub-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM or "chromium", *FLAGS, f"--user-data-dir={profile}", *args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


class Texts(HTMLParser):
    """Text of every element with an id, and of each district row's person-times cell."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.rows: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-code"):
            self._row = a["data-code"]
        key = a.get("id") or (f"row:{self._row}" if "person-times" in (a.get("class") or "") else None)
        if key:
            self._open.append((tag, key))
            self.by_id.setdefault(key, "")

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for _, key in self._open:
            self.by_id[key] += data


def yuan(fen: int) -> str:
    """As dashboard.js formatYuan: thousands separators and two decimals."""
    return f"{fen // 100:,}.{fen % 100:02d}"


async def seed(settings: Any, base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as api:
        bureau = bearer("demo-bureau", "bureau")
        put = await api.put("/v1/statistics/employed", headers=bureau, json={"year": 2020, "figures": [
            {"district": "320612", "employed": 20}, {"district": "320613", "employed": 10}]})
        assert put.status_code == 200
    did = uuid.uuid4()
    await publish(settings, [
        decided("p-1", "四.2", "approved", 70_000, "2020-05-10"),
        decided("p-2", "四.4", "approved", 150_050, "2020-08-01", district="320613"),
        decided("p-3", "四.2", "approved", 80_000, "2020-10-03"),
        disbursement("drafted", did, "reserved", 70_000, source="unemployment_insurance_surplus"),
        disbursement("changed", did, "paid", 70_000, source="unemployment_insurance_surplus"),
        disbursement("drafted", uuid.uuid4(), "reserved", 150_050, source="employment_subsidy"),
        employed("a", "320612"), certificate("a", 3), employed("b", "320613"), certificate("b", 5),
        # certificates waiting for their holders' facts (pending) and refusals: no person-times
        *(decided(f"w-{i}", "四.4", "pending", 0, "2020-10-05") for i in range(6)),
        *(decided(f"r-{i}", "四.4", "rejected", 0, "2020-10-05") for i in range(5))])


async def test_the_dashboard_shows_the_numbers_the_api_returns(settings: Any, server: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(settings, server)
    async with httpx.AsyncClient(base_url=server) as api:
        async def loaded() -> Any:
            p = (await api.get("/v1/progress")).json()
            f = (await api.get("/v1/funds", headers=bearer("demo-bureau", "bureau"))).json()  # exact
            r = (await api.get("/v1/ratios")).json()
            # Three topics arrive independently: wait until every one is applied.
            money = f["totals"]["paid_fen"], f["totals"]["reserved_fen"]
            done = p["person_times"] == 3 and money == (70_000, 150_050) and r["city"]["skilled"] == 2
            done = done and {(x["outcome"], x["count"]) for x in p["current_decisions"]} >= {("pending", 6)}
            return (p, f, r) if done else None

        progress, exact, ratios = await eventually(loaded)
        # The payments happened this month; public fund use publishes a month from the second day
        # after it ends (docs/small-cells.md): the services' test clock moves there.
        first = nantong_today().replace(day=28) + dt.timedelta(days=4)
        monkeypatch.setenv(CLOCK_FILE_ENV, str(tmp_path / "today"))
        set_test_clock(tmp_path / "today", first.replace(day=2))
        funds = (await api.get("/v1/funds")).json()
        districts = (await api.get("/v1/districts")).json()
    dom = await chromium("--dump-dom", f"{server}/dashboard")
    page = Texts()
    page.feed(dom)
    assert 'data-loaded="true"' in dom and page.by_id["status"] == "已加载"
    t1 = re.search(r'data-target="T1".*?class="actual">([^<]*)<', dom, re.DOTALL)
    assert t1 is not None and t1.group(1) == str(progress["person_times"]) == "3"
    # one payment paid, one reserved: both small cells, printed "—" (the exact sums for bureau staff)
    assert funds["min_cell"] == 5 and funds["as_of"] == (first - dt.timedelta(days=first.day)).isoformat()
    assert (funds["totals"]["paid_fen"], funds["totals"]["reserved_fen"]) == (None, None)
    assert page.by_id["funds-paid"] == page.by_id["funds-reserved"] == "—"
    assert (exact["totals"]["paid_fen"], exact["totals"]["reserved_fen"]) == (70_000, 150_050)
    assert "不足 5 笔" in page.by_id["funds-note"] and "700.00" not in dom and "1,500.50" not in dom
    assert page.by_id["skilled-share"] == f"{ratios['city']['skilled_share'] * 100:.2f}%"
    for row in districts["districts"]:
        shown = "—" if row["person_times"] is None else f"{row['person_times']:,}"
        assert page.by_id[f"row:{row['code']}"] == shown, row["code"]
    # 2 person-times < 5 (shared/disclosure.yaml): the public page does not show them
    tongzhou = next(r for r in districts["districts"] if r["code"] == "320612")
    assert tongzhou["suppressed"] is True and page.by_id["row:320612"] == "—"
    # Current decisions by outcome: pending shows as pending; 3 approvals fall under the small-cell
    # threshold (5), and the smallest other cell with them, so the 3 cannot be derived.
    outcomes = {r["outcome"]: r for r in progress["current_decisions"]}
    assert (outcomes["pending"]["count"], outcomes["approved"]["suppressed"]) == (6, True)
    pending = re.search(r'data-key="pending"><td>([^<]*)</td><td class="count">([^<]*)<', dom)
    assert pending is not None and pending.groups() == ("待补信息（等待持证人信息）", "6")
    assert re.search(r'data-key="approved"><td>批准</td><td class="count">不足公开阈值<', dom)
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "dashboard.png"
    shot.unlink(missing_ok=True)
    await chromium(f"--screenshot={shot}", "--window-size=1280,2400", f"{server}/dashboard")
    assert shot.stat().st_size > 10_000 and Path(shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
