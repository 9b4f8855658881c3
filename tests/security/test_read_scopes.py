"""What each reader sees of real decisions (REST in at the registry, decided by eligibility, counted
by reporting): public progress without small cells, hr and finance without the facts a decision
used, district staff only their own districts' what-if rows."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from shared.platform import Platform
from tests.e2e.platform_harness import Api, certificate, seed
from tests.security.conftest import bearer, token

TONGZHOU, QIDONG = "320612", "320681"


@pytest.fixture(scope="module")
def decided(platform: Platform) -> Iterator[dict[int, str]]:
    """Eight certificates, six in 通州区 and two in 启东市, decided and counted; ids by sequence."""
    api = Api(platform)
    seed(api, 8)
    ids = {}
    for seq in range(8):
        body = certificate(seq) | {"district": TONGZHOU if seq < 6 else QIDONG}
        r = api.post("registry", "/v1/certificates", body, as_="demo-institution")
        assert r.status_code in (200, 201), r.text
        ids[seq] = r.json()["certificate_id"]
    deadline = time.monotonic() + 90
    while api.counted() < 8:
        assert time.monotonic() < deadline, "reporting never counted the eight certificates"
        time.sleep(0.2)
    yield ids


def test_public_progress_suppresses_small_district_cells_and_their_complement(
        platform: Platform, decided: dict[int, str]) -> None:
    public = httpx.get(f"{platform.url('reporting')}/v1/progress", timeout=30).json()
    detail = public["person_times_detail"]
    assert public["person_times"] == 8 and detail["min_cell"] == 5
    districts = {r["code"]: r for r in detail["by_district"] if r["suppressed"] or r["count"]}
    # 2 < 5: suppressed; 通州's 6 would be 8 - 2 away from it, so it goes too (complementary)
    assert districts[QIDONG]["count"] is None and districts[QIDONG]["amount_fen"] is None
    assert districts[TONGZHOU]["suppressed"] is True and districts[TONGZHOU]["count"] is None
    clauses = [r for r in detail["by_clause"] if r["count"]]
    assert clauses and all(r["count"] >= 5 for r in clauses)  # one clause, all eight: shown


def test_hr_and_finance_read_what_paying_needs_and_not_the_facts_a_decision_used(
        platform: Platform, decided: dict[int, str]) -> None:
    path = f"{platform.url('eligibility')}/v1/certificates/{decided[0]}/decisions"
    full = httpx.get(path, headers=bearer(token(platform, "demo-bureau"))).json()
    assert full and {"facts_used", "reasons", "explanation_zh", "steps"} <= full[0].keys()
    for who in ("demo-hr", "demo-finance"):
        seen = httpx.get(path, headers=bearer(token(platform, who))).json()
        assert [d["decision_id"] for d in seen] == [d["decision_id"] for d in full], who
        assert {"amount_fen", "clause", "outcome", "payee_ref"} <= seen[0].keys()
        assert not {"facts_used", "reasons", "explanation_zh", "explanation_en", "steps", "trigger"} & seen[0].keys()


def test_district_staff_see_only_their_districts_in_what_if_results(
        platform: Platform, decided: dict[int, str]) -> None:
    body = {"key": "四.2.share", "value": "3/4", "valid_from": "2020-01-01", "period_from": "2020-01-01",
            "period_to": "2020-12-31"}
    city = httpx.post(f"{platform.url('eligibility')}/v1/what-if", json=body, timeout=60,
                      headers=bearer(token(platform, "demo-bureau"))).json()
    assert {r["district"] for r in city["rows"]} == {TONGZHOU, QIDONG}
    mine = httpx.post(f"{platform.url('eligibility')}/v1/what-if", json=body, timeout=60,
                      headers=bearer(token(platform, "demo-district"))).json()
    assert {r["district"] for r in mine["rows"]} == {TONGZHOU}
    assert mine["fen_delta"] == sum(r["fen_delta"] for r in city["rows"] if r["district"] == TONGZHOU)
    assert mine["persons"] is None  # the city-wide count is not theirs
