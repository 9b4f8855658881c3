"""Public progress figures never show a cell of fewer than min_cell people, nor the cell that
would give it away by subtraction: certificates in two districts, REST in at the registry,
decided by eligibility, counted by reporting."""

from __future__ import annotations

import time

import httpx

from shared.platform import Platform
from tests.e2e.platform_harness import Api, certificate, seed

TONGZHOU, QIDONG = "320612", "320681"


def test_public_progress_suppresses_small_district_cells_and_their_complement(platform: Platform) -> None:
    api = Api(platform)
    seed(api, 8)
    for seq in range(8):  # six in 通州区, two in 启东市
        body = certificate(seq) | {"district": TONGZHOU if seq < 6 else QIDONG}
        assert api.post("registry", "/v1/certificates", body, as_="demo-institution").status_code in (200, 201)
    deadline = time.monotonic() + 90
    while api.counted() < 8:
        assert time.monotonic() < deadline, "reporting never counted the eight certificates"
        time.sleep(0.2)
    public = httpx.get(f"{platform.url('reporting')}/v1/progress", timeout=30).json()
    detail = public["person_times_detail"]
    assert public["person_times"] == 8 and detail["min_cell"] == 5
    districts = {r["code"]: r for r in detail["by_district"] if r["suppressed"] or r["count"]}
    # 2 < 5: suppressed; 通州's 6 would be 8 - 2 away from it, so it goes too (complementary)
    assert districts[QIDONG]["count"] is None and districts[QIDONG]["amount_fen"] is None
    assert districts[TONGZHOU]["suppressed"] is True and districts[TONGZHOU]["count"] is None
    clauses = [r for r in detail["by_clause"] if r["count"]]
    assert clauses and all(r["count"] >= 5 for r in clauses)  # one clause, all eight: shown
