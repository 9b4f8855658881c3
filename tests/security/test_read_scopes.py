"""What each reader sees of real decisions (REST in at the registry, decided by eligibility, counted
by reporting): public progress, districts, trend and issued reports without small cells (nor the
cells that would give them away), bureau and auditors the exact report; hr and finance without the
facts a decision used; district staff only their own districts' what-if rows."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import httpx
import pytest

from shared.clock import CLOCK_FILE_ENV, nantong_today, set_test_clock
from shared.platform import Platform
from tests.e2e.platform_harness import (
    SOURCE,
    Api,
    allocate,
    answer,
    certificate,
    end_notices,
    nantong_today_of,
    release_all,
    seed,
)
from tests.recompute import districts_equations, fund_use_equations, funds_equations, progress_equations, solvable
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


def test_public_districts_and_trend_hide_a_small_district_that_no_total_recomputes(
        platform: Platform, decided: dict[int, str]) -> None:
    base = platform.url("reporting")
    progress = httpx.get(f"{base}/v1/progress", timeout=30).json()
    districts = httpx.get(f"{base}/v1/districts", timeout=30).json()
    assert districts["min_cell"] == 5
    rows = {r["code"]: r for r in districts["districts"]}
    assert rows[QIDONG]["person_times"] is None and "paid_fen" not in rows[QIDONG]  # bureau, auditor only
    assert rows[TONGZHOU]["suppressed"] is True and rows[TONGZHOU]["person_times"] is None  # 8 - 6 = 2
    now = districts["trend"]["quarters"].index(f"{nantong_today().year}Q{(nantong_today().month - 1) // 3 + 1}")
    trend = {s["code"]: s["cumulative"] for s in districts["trend"]["series"]}
    assert trend[QIDONG][now] is None and trend[TONGZHOU][now] is None and trend[QIDONG][now - 1] == 0
    # every figure both answers publish, as an attacker would add and subtract them
    quarters = sorted(set(districts["trend"]["quarters"]) | {r["quarter"] for r in
                                                             progress["person_times_detail"]["by_quarter"]})
    known = solvable(progress_equations(progress, rows, quarters) + districts_equations(districts, quarters))
    assert (QIDONG, quarters[now]) not in known and (TONGZHOU, quarters[now]) not in known
    assert all(v == 0 or v >= 5 for v in known.values()), known
    ratios = httpx.get(f"{base}/v1/ratios", timeout=30).json()
    skill = {r["code"]: r for r in ratios["districts"]}
    assert ratios["city"]["skilled"] == 8 and skill[QIDONG]["skilled"] is None  # the holders: 6 and 2
    assert all(
        r[c] is None or r[c] == 0 or r[c] >= 5 for r in ratios["districts"] for c in ("skilled", "high_skilled"))


def test_an_issued_report_read_without_a_bureau_token_hides_the_small_district(
        platform: Platform, decided: dict[int, str]) -> None:
    base, year = platform.url("reporting"), nantong_today().year
    issued = httpx.post(f"{base}/v1/reports", headers=bearer(token(platform, "demo-bureau")), timeout=60,
                        json={"kind": "annual", "period": str(year), "cut_off": f"{year}-12-31"})
    assert issued.status_code in (200, 201), issued.text
    links = issued.json()["links"]

    def district_rows(body: dict) -> dict[str, list]:
        table = next(t for t in body["tables"] if t["title"].startswith("二"))
        return {r[1]: r for r in table["rows"]}

    json_path = f"{base}/v1/reports/{issued.json()['report_id']}"
    public = district_rows(httpx.get(json_path, timeout=30).json())
    # 本期/累计人次 and their amounts: 启东's 2 and, beside it, 通州's 6 (the total is 8)
    assert public[QIDONG][2:6] == ["*", "*", "*", "*"] and public[TONGZHOU][2:6] == ["*", "*", "*", "*"]
    as_district = district_rows(httpx.get(json_path, timeout=30,
                                          headers=bearer(token(platform, "demo-district"))).json())
    assert as_district == public  # staff, but not the bureau: the public form
    for reader in ("demo-bureau", "demo-auditor"):
        exact = district_rows(httpx.get(json_path, timeout=30, headers=bearer(token(platform, reader))).json())
        assert exact[QIDONG][2:4] == [2, 2] and exact[TONGZHOU][2:4] == [6, 6], reader
    csv = httpx.get(base + links["csv"], timeout=30).text
    assert "小单元格" in csv and next(x for x in csv.splitlines() if QIDONG in x).startswith("启东市,320681,*,*,*,*,")
    assert "小单元格" in httpx.get(base + links["html"], timeout=30).text
    forged = httpx.get(json_path, timeout=30, headers=bearer("not-a-token"))
    assert forged.status_code == 401  # a token that is sent must be valid: no silent fallback


def test_public_funds_hide_a_small_waiting_queue_that_the_published_total_cannot_recompute(
        platform: Platform, decided: dict[int, str]) -> None:
    base = platform.url("payments")
    finance = bearer(token(platform, "demo-finance"))
    assert end_notices(Api(platform)) == 8  # payments drafts an approval once its notice (公示) has ended

    def waiting_settled() -> dict[tuple[str, str], int]:
        deadline = time.monotonic() + 90
        while True:  # every decision drafted: reserved or waiting for money
            exact = httpx.get(f"{base}/v1/funds", timeout=30, headers=finance).json()
            drafted = httpx.get(f"{base}/v1/disbursements", timeout=30, headers=finance).json()
            # 启东's two drafts included (other modules of the package draft on the same platform)
            qidong_drafted = sum(d["district"] == QIDONG for d in drafted) >= 2
            if (len(drafted) >= 8 and qidong_drafted) or time.monotonic() > deadline:
                return {(f["source"], f["district"]): f["waiting"] for f in exact}
            time.sleep(0.2)

    exact = waiting_settled()
    qidong = ("unemployment_insurance_surplus", QIDONG)
    assert exact[qidong] == 2  # 启东's two drafts wait: no money was allocated there
    public = httpx.get(f"{base}/v1/funds", timeout=30).json()
    totals = httpx.get(f"{base}/v1/funds/totals", timeout=30).json()
    assert totals["min_cell"] == 5
    row = next(f for f in public if (f["source"], f["district"]) == qidong)
    assert row["waiting"] is None and row["suppressed"] is True
    # the queue's total is those same two: published, it would be the cell
    assert totals["waiting"] is None and totals["suppressed"] is True
    solved = solvable(funds_equations(public, totals))
    assert not [c for c, v in solved.items() if 0 < v < 5], solved
    # the same arithmetic on the exact figures finds the two (the check can fail)
    shown = [{"source": s, "district": d, "waiting": n} for (s, d), n in exact.items()]
    assert solvable(funds_equations(shown, {"waiting": sum(exact.values())}))[qidong] == 2
    staff = httpx.get(f"{base}/v1/funds/totals", timeout=30, headers=finance).json()
    assert (staff["min_cell"], staff["waiting"]) == (None, 2)
    forged = httpx.get(f"{base}/v1/funds", timeout=30, headers=bearer("not-a-token"))
    assert forged.status_code == 401  # a token that is sent must be valid: no silent fallback
    public_money_is_allocations_only(platform, exact, finance)


def public_money_is_allocations_only(platform: Platform, waiting: dict[tuple[str, str], int],
                                     finance: dict[str, str]) -> None:
    """Payments' live money (balances, reservations, spending) moves by one payment at a time, so a
    day's difference of a public answer would be one payment: staff tokens read it (finance here:
    every token request counts against the endpoint's rate limit), the public reads the
    allocations (services/payments/fund_use.py)."""
    base = platform.url("payments")
    exact = httpx.get(f"{base}/v1/funds", timeout=30, headers=finance).json()
    tongzhou = next(f for f in exact if (f["source"], f["district"]) == (SOURCE, TONGZHOU))
    assert tongzhou["reserved_fen"] > 0 and tongzhou["balance_fen"] > 0 and not tongzhou["money_suppressed"]
    public = httpx.get(f"{base}/v1/funds", timeout=30).json()
    assert {(f["source"], f["district"]) for f in public} == set(waiting)
    assert all(f["money_suppressed"] and (f["balance_fen"], f["reserved_fen"], f["available_fen"]) ==
               (None, None, None) for f in public), public
    use = httpx.get(f"{base}/v1/fund-use", timeout=30).json()
    assert use["spent"] is None and use["spent_suppressed"] and use["min_cell"] == 5
    assert {(a["source"], a["district"]) for a in use["allocated"]} >= {(SOURCE, TONGZHOU)}
    staff_use = httpx.get(f"{base}/v1/fund-use", timeout=30, headers=finance).json()
    assert staff_use["min_cell"] is None and staff_use["spent"] is not None
    assert httpx.get(f"{base}/v1/fund-use", timeout=30, headers=bearer("not-a-token")).status_code == 401


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


def test_public_fund_use_hides_a_district_and_clause_cell_of_one_payment_that_bureau_staff_read_exact(
        platform: Platform, decided: dict[int, str]) -> None:
    """Reporting's /v1/funds (十二): 启东 gets money for one of its two waiting drafts; five of
    通州's six and that one are paid. 启东's paid cell is one payment of a standard amount: its
    district row, and 通州's beside the published total, are hidden; bureau and auditor read both."""
    api, base = Api(platform), platform.url("reporting")
    finance = bearer(token(platform, "demo-finance"))
    end_notices(api)  # run on its own, the notices end here (else the test above ended them)
    drafts = httpx.get(f"{platform.url('payments')}/v1/disbursements", timeout=30, headers=finance).json()
    amount = next(d["amount_fen"] for d in drafts if d["district"] == QIDONG and d["status"] == "waiting")
    allocate(api, amount, reference="CZ-SEC-QIDONG", district=QIDONG)  # the first of 启东's two only (FIFO)
    until_status = time.monotonic() + 60
    while not any(d["district"] == QIDONG and d["status"] == "reserved" for d in httpx.get(
            f"{platform.url('payments')}/v1/disbursements", timeout=30, headers=finance).json()):
        assert time.monotonic() < until_status, "启东's first draft was never reserved"
        time.sleep(0.2)
    rows = release_all(api)
    tongzhou = [r for r in rows if r["district"] == TONGZHOU]
    assert len(tongzhou) == 6 and [r["district"] for r in rows].count(QIDONG) == 1
    answer(api, [r for r in rows if r not in tongzhou[5:]])  # one of 通州's stays in flight
    bureau = bearer(token(platform, "demo-bureau"))

    def exact() -> dict:
        return httpx.get(f"{base}/v1/funds", timeout=30, headers=bureau).json()

    deadline = time.monotonic() + 90
    while {r["code"]: r["paid_fen"] for r in exact()["by_district"]}.get(QIDONG) != amount:
        assert time.monotonic() < deadline, "reporting never counted 启东's payment"
        time.sleep(0.2)
    # The payments were made this (Nantong) month: its figures are public from the second day after it.
    paid_on = dt.date.fromisoformat(exact()["by_month"][-1]["month"] + "-01")
    next_month = (paid_on + dt.timedelta(days=32)).replace(day=1)
    path = platform.env[CLOCK_FILE_ENV]
    set_test_clock(path, max(next_month + dt.timedelta(days=1), nantong_today_of(path)))
    staff = exact()
    clause = next(r["clause"] for r in staff["by_clause"] if r["paid_fen"])
    cells = {("paid", f"{paid_on:%Y-%m}", SOURCE, TONGZHOU, clause): (5 * amount, 5),
             ("paid", f"{paid_on:%Y-%m}", SOURCE, QIDONG, clause): (amount, 1),
             ("reserved", f"{paid_on:%Y-%m}", SOURCE, TONGZHOU, clause): (amount, 1),
             ("reserved", f"{paid_on:%Y-%m}", SOURCE, QIDONG, clause): (0, 0)}  # reserved, then paid
    assert staff["min_cell"] is None and staff["totals"]["paid_fen"] == 6 * amount
    assert {r["code"]: r["paid_fen"] for r in staff["by_district"] if r["paid_fen"]} == {
        TONGZHOU: 5 * amount, QIDONG: amount}
    public = httpx.get(f"{base}/v1/funds", timeout=30).json()
    assert public["min_cell"] == 5 and public["as_of"] >= f"{paid_on:%Y-%m}-28"
    # by source and month only: a district's or a clause's line beside another's and the city
    # figure can leave a lone cell (docs/small-cells.md)
    assert "by_district" not in public and "by_clause" not in public
    assert public["totals"]["paid_fen"] == 6 * amount  # six payments: published
    assert [r["paid_fen"] for r in public["by_source"] if r["source"] == SOURCE] == [6 * amount]
    assert public["totals"]["reserved_fen"] is None  # the one still in flight
    solved = solvable(fund_use_equations(public, cells), signed=True)
    assert not [c for c in solved if 0 < cells[c][1] < 5], solved
    qidong_cell = ("paid", f"{paid_on:%Y-%m}", SOURCE, QIDONG, clause)
    assert solvable(fund_use_equations(staff, cells), signed=True)[qidong_cell] == amount
    auditor = httpx.get(f"{base}/v1/funds", timeout=30, headers=bearer(token(platform, "demo-auditor"))).json()
    assert auditor["by_district"] == staff["by_district"]
    district_staff = httpx.get(f"{base}/v1/funds", timeout=30, headers=bearer(token(platform, "demo-district")))
    assert district_staff.json() == public  # staff, not the bureau: the public form
    forged = httpx.get(f"{base}/v1/funds", timeout=30, headers=bearer("not-a-token"))
    assert forged.status_code == 401 and forged.headers["content-type"].startswith("application/problem+json")
    # /v1/districts: money paid by unit for bureau and auditor tokens only
    public_rows = httpx.get(f"{base}/v1/districts", timeout=30).json()["districts"]
    assert public_rows and not [r for r in public_rows if "paid_fen" in r]
    for reader in ("demo-bureau", "demo-auditor"):
        rows = {r["code"]: r for r in httpx.get(f"{base}/v1/districts", timeout=30,
                                               headers=bearer(token(platform, reader))).json()["districts"]}
        assert (rows[QIDONG]["paid_fen"], rows[TONGZHOU]["paid_fen"]) == (amount, 5 * amount), reader
    assert httpx.get(f"{base}/v1/districts", timeout=30, headers=bearer("not-a-token")).status_code == 401
    report_fund_table_hides_the_payment_in_flight(platform, paid_on, amount)


def report_fund_table_hides_the_payment_in_flight(platform: Platform, paid_on: dt.date, amount: int) -> None:
    """六、资金使用情况 of the quarter's report: six payments paid (published), one still reserved
    (a figure of one payment: printed * publicly, exact for bureau and auditor)."""
    base, quarter = platform.url("reporting"), (paid_on.month - 1) // 3 + 1
    end = dt.date(paid_on.year, 3 * quarter, 1) + dt.timedelta(days=31)
    end -= dt.timedelta(days=end.day)
    issued = httpx.post(f"{base}/v1/reports", headers=bearer(token(platform, "demo-bureau")), timeout=60,
                        json={"kind": "quarterly", "period": f"{paid_on.year}Q{quarter}", "cut_off": end.isoformat()})
    assert issued.status_code in (200, 201), issued.text
    path = f"{base}/v1/reports/{issued.json()['report_id']}"

    def fund_row(headers: dict[str, str] | None = None) -> list:
        body = httpx.get(path, timeout=30, headers=headers).json()
        assert "fund_counts" not in body or headers  # the counts behind the figures: never public
        return next(t for t in body["tables"] if t["title"].startswith("六"))["rows"]

    paid = f"{6 * amount // 100}.{6 * amount % 100:02d}"
    assert fund_row() == [[fund_row(bearer(token(platform, "demo-bureau")))[0][0], paid, paid, "*"]]
    for reader in ("demo-bureau", "demo-auditor"):
        assert fund_row(bearer(token(platform, reader)))[0][1:] == [paid, paid, f"{amount // 100}.{amount % 100:02d}"]
    assert fund_row(bearer(token(platform, "demo-district")))[0][3] == "*"
