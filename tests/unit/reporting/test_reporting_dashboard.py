"""The dashboard's static files: offline (no external URLs) and rendering the API shapes right."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from services.reporting.domain import load_targets
from services.reporting.funds import FundFlow, fund_tally, fund_view
from services.reporting.progress import DecisionRecord, district_view, progress_tally, progress_view
from services.reporting.public import public_funds
from services.reporting.ratios import CertificateHeld, EmploymentChanged, RatioCounters, ratio_view

STATIC = Path(__file__).parents[3] / "services" / "reporting" / "static"
AS_OF = date(2020, 9, 30)


def test_the_static_files_reference_nothing_outside_the_page() -> None:
    for name in ("dashboard.html", "dashboard.js", "dashboard.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        urls = re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>]*", text)
        assert urls == ["http://www.w3.org/2000/svg"] * len(urls), (name, urls)
        assert "@import" not in text and "cdn" not in text.lower()


def test_the_page_loads_only_its_own_script_and_stylesheet() -> None:
    page = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    assert re.findall(r'src="([^"]+)"', page) == ["dashboard.js"]
    assert re.findall(r'href="([^"]+)"', page) == ["dashboard.css"]
    assert 'lang="zh-CN"' in page and "分县（市）区情况" in page


def api_payloads() -> dict[str, object]:
    targets = load_targets().on(AS_OF)
    decisions = [DecisionRecord("d1", "p1", "四.4", "approved", 150_050, date(2020, 2, 1), "320611", "人社局",
                                frozenset({"employee"}))]
    flows = [FundFlow("unemployment_insurance_surplus", "320611", "四.4", date(2020, 2, 3), "paid", 150_050)]
    counters = RatioCounters().apply_all([EmploymentChanged("p1", True, "320611", date(2019, 1, 1)),
                                          CertificateHeld("p1", "c", 3, date(2019, 3, 1))])
    tally, funds = progress_tally(decisions, targets, AS_OF), fund_tally(flows, AS_OF)
    return {
        "progress": progress_view(tally, targets, AS_OF),
        "ratios": ratio_view(counters, {2019: {"320611": 4}, 2020: {"320613": 8}}, 2020, special_counts=False),
        "districts": district_view(tally, funds, counters, {"320613": 8}, as_of=AS_OF, special_counts=False),
        # the public form: one payment is a small cell (its count, none here, is taken as one)
        "funds": public_funds(fund_view(funds, AS_OF), funds, 5),
    }


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_dashboard_script_renders_the_numbers_the_api_returns() -> None:
    payloads = json.dumps(api_payloads())
    result = subprocess.run(["node", str(Path(__file__).with_name("dashboard_check.js")),
                             str(STATIC / "dashboard.js")], input=payloads, capture_output=True,
                            text=True, timeout=30, check=True)
    shown = json.loads(result.stdout)
    assert shown["yuan"] == ["1,500.50", "-0.05", "1,234,567.89"]
    assert 'width="200.0"' in shown["bar"] and 'x1="100.0"' in shown["bar"]
    assert shown["as-of"] == "2020-09-30"
    assert '<span class="actual">1</span> / <span class="goal">305,000</span>' in shown["targets"]
    assert 'data-key="T1:2020Q3"' in shown["special-reports"]
    assert shown["funds-paid"] == "—" and "不足 5 笔" in shown["funds-note"] and "2020-09-30" in shown["funds-note"]
    assert "<td>—</td>" in shown["#funds-by-source tbody"] and "1,500" not in shown["funds-chart"]
    assert '<tr data-code="320613"><td>崇川区</td><td class="person-times">1</td>' in shown["#districts tbody"]
    # money paid by unit is not public (fund use by source only): the district table has no column for it
    assert '"paid_fen": 150050' in payloads and shown["#districts tbody"].count("1,500.50") == 1  # the amount
    assert shown["skilled-share"] == "12.50%" and shown["high-skilled-share"] == "100.00%"
    assert shown["trend-chart"].count("<polyline") == 2
