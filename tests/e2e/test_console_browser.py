"""The staff console in a real headless Chromium (Debian's, driven by Playwright; no browser
download): a reviewer, an hr approver and a finance releaser each log in with their own account
and act through the page; the state is then checked through the services' APIs, and the audit
logs name each person. Screenshots go to artifacts/console/.

The four services and the treasury simulator run under uvicorn on localhost ports (each in a
thread, against the real embedded PostgreSQL and broker); the console is served by reporting and
calls the other services across origins (SKILLSUB_CONSOLE_ORIGINS).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.eligibility.main import create_app as eligibility_app
from services.payments.main import create_app as payments_app
from services.payments.treasury_sim import create_app as treasury_app
from services.registry.main import create_app as registry_app
from services.reporting.main import create_app as reporting_app
from shared.clock import CLOCK_FILE_ENV, nantong_today, set_test_clock
from shared.embedded import distinct_free_ports
from tests.accounts import card_number
from tests.conftest import ROOT
from tests.e2e.browser_helpers import running
from tests.e2e.platform_harness import start_clock
from tests.integration.eligibility.eligibility_helpers import eventually
from tests.integration.eligibility.pipeline import resident_id, skill_number
from tests.integration.registry.registry_helpers import publish

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI (.ci/run) installs Debian's chromium and sets SKILLSUB_REQUIRE_BROWSER: there a missing browser
# fails the run instead of skipping quietly.
MISSING = CHROMIUM is None and not os.environ.get("SKILLSUB_REQUIRE_BROWSER")
pytestmark = [pytest.mark.usefixtures("drop_test_databases"),
              pytest.mark.skipif(MISSING, reason="chromium is not installed (Debian chromium; scripts/test-deps.sh "
                                 "installs it, as .ci/run does)")]
SHOTS = ROOT / "artifacts" / "console"
EMPLOYER = "91320612MA1N00001G"
LATHE = "6-18-01-01"


@pytest.fixture
def platform(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    # The registry receives the certificates in 2020, as it did (its receipt day is a test clock).
    for module in ("services.registry.group", "services.registry.bulk", "services.registry.contacts"):
        monkeypatch.setattr(f"{module}.nantong_today", lambda: dt.date(2020, 6, 10))
    # The other services' test clock (shared/clock.py): the real day until end_notices moves it.
    monkeypatch.setenv(CLOCK_FILE_ENV, str(tmp_path / "today"))
    start_clock(str(tmp_path / "today"))
    names = ("registry", "eligibility", "payments", "reporting", "treasury")
    ports = dict(zip(names, distinct_free_ports(len(names)), strict=True))
    origin = f"http://127.0.0.1:{ports['reporting']}"
    s = settings.model_copy(update={"skillsub_console_origins": origin,
                                    "treasury_url": f"http://127.0.0.1:{ports['treasury']}"})
    apps = {"treasury": treasury_app(), "registry": registry_app(s), "eligibility": eligibility_app(s),
            "payments": payments_app(s), "reporting": reporting_app(s)}
    with ExitStack() as stack:
        yield {name: stack.enter_context(running(app, ports[name])) for name, app in apps.items()}


async def token(reg: httpx.AsyncClient, client_id: str, secret: str | None = None) -> dict[str, str]:
    r = await reg.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                "client_secret": secret or f"{client_id}-secret"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def end_notices(urls: dict[str, str], bureau: dict[str, str]) -> int:
    """The approvals' public notices (公示) run their working days: the test clock moves to the day
    after the last one ends, and the bureau's end-of-notice step makes them payable."""
    async with httpx.AsyncClient(base_url=urls["eligibility"]) as eli:
        notices = (await eli.get("/v1/public/notices")).json()
        assert notices and all(n["ends_on"] for n in notices), notices
        last = max(dt.date.fromisoformat(n["ends_on"]) for n in notices)
        assert last > nantong_today()  # five working days: nothing was payable before
        set_test_clock(os.environ[CLOCK_FILE_ENV], last + dt.timedelta(days=1))
        ended = await eli.post("/v1/notices/end-due", headers=bureau)
        assert ended.status_code == 200, ended.text
        return int(ended.json()["payable"])


async def staff(reg: httpx.AsyncClient) -> dict[str, str]:
    """The security administrator issues each person their own account; secrets by client id."""
    admin = await token(reg, "demo-security-admin")
    out = {}
    for client_id, role in (("reviewer-wang", "bureau"), ("hr-li", "hr"), ("finance-zhao", "finance"),
                            ("finance-qian", "finance")):
        r = await reg.post("/v1/clients", headers=admin, json={"client_id": client_id, "role": role})
        assert r.status_code == 201, r.text
        out[client_id] = r.json()["client_secret"]
    return out


async def seed(urls: dict[str, str]) -> dict[str, Any]:
    """A Catalog line in force, two insured workers with certificates: both approved under 四.4;
    one person's representative asks for review of the amount (PIPL art. 24)."""
    async with httpx.AsyncClient(base_url=urls["registry"]) as reg, \
            httpx.AsyncClient(base_url=urls["eligibility"]) as eli:
        row = {"occupation_code": LATHE, "occupation_edition": "2015", "occupation_name": "车工", "level": 4,
               "training_fen": 120000, "appraisal_fen": 20000, "valid_from": "2019-01-01"}
        r = await publish(reg, "/v1/catalog/versions", json={"catalog_version": "console-1", "standards": [row]})
        assert r.status_code == 201, r.text
        certs = []
        for seq in (801, 802):
            rid = resident_id(seq)
            # Who is paid: the worker's social-security card, as the employment service records it.
            a = await reg.post("/v1/payee-accounts", headers=await token(reg, "demo-feeder-employment_service"), json={
                "payee_kind": "worker", "resident_id": rid, "account_kind": "social_security_card",
                "account_number": card_number(seq)})
            assert a.status_code in (200, 201), a.text
            for kind, fields in (("employment", {"employer_code": EMPLOYER, "hire_date": "2018-01-01",
                                                 "contract_months": 36}),
                                 ("unemployment_insurance_months", {"months": 30})):
                feeder = "employment_service" if kind == "employment" else "social_insurance"
                f = await reg.post("/v1/facts", headers=await token(reg, f"demo-feeder-{feeder}"), json={
                    "resident_id": rid, "kind": kind, "valid_from": "2018-01-01" if kind == "employment"
                    else "2019-01-01", "attributes": fields})
                assert f.status_code == 201, f.text
            c = await reg.post("/v1/certificates", headers=await token(reg, "demo-institution"), json={
                "number": skill_number(4, seq), "kind": "skill_level", "resident_id": rid,
                "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20",
                "issuer_code": "52320613MJ0000003P", "district": "320612"})
            assert c.status_code == 201, c.text
            certs.append(c.json()["certificate_id"])
        bureau = await token(reg, "demo-auditor")

        async def approved() -> list[dict[str, Any]] | None:
            got = [await eli.get(f"/v1/certificates/{c}/decisions", headers=bureau) for c in certs]
            ds = [g.json()[0] for g in got if g.status_code == 200]
            return ds if len(ds) == 2 and all(d["outcome"] == "approved" for d in ds) else None

        try:
            paid, reviewed = await eventually(approved, timeout=60)
        except AssertionError:
            got = [(await eli.get(f"/v1/certificates/{c}/decisions", headers=bureau)).text for c in certs]
            raise AssertionError(got) from None
        asked = await eli.post(f"/v1/decisions/{reviewed['decision_id']}/review-requests",
                               headers=await token(reg, "demo-institution"), json={"reason": "学员对补贴金额有异议"})
        assert asked.status_code == 201, asked.text
        return {"paid": paid, "reviewed": reviewed, "review_id": asked.json()["review_id"],
                "secrets": await staff(reg)}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield b
        finally:
            await b.close()


async def login(page: Any, console: str, client_id: str, secret: str) -> None:
    await page.goto(console)
    await page.fill("#login-id", client_id)
    await page.fill("#login-secret", secret)
    await page.click("#login-button")
    await page.wait_for_selector("#who:not(:empty)")
    assert await page.text_content("#message") == "登录成功"


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000 and Path(path).read_bytes()[:4] == b"\x89PNG"


async def test_staff_approve_a_review_and_approve_and_release_a_batch_in_the_console(
        platform: dict[str, str], browser: Any) -> None:
    seeded = await seed(platform)
    secrets = seeded["secrets"]
    query = "&".join(f"{s}={platform[s]}" for s in ("registry", "eligibility", "payments", "reporting"))
    console = f"{platform['reporting']}/console?{query}"
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    offline: list[str] = []
    page.on("request", lambda r: offline.append(r.url) if not r.url.startswith("http://127.0.0.1") else None)

    # The reviewer: the requested review is in the queue; approve it at 600 yuan with a reason.
    await login(page, console, "reviewer-wang", secrets["reviewer-wang"])
    row = page.locator(f"#reviews tr[data-review='{seeded['review_id']}']")
    await row.wait_for()
    assert await page.is_hidden("#hr-section") and await page.is_visible("#signals-section")
    # Objections to public notices (GET /v1/objections?status=open): the section shows (none open yet).
    await page.wait_for_selector("#objections-section:not([hidden])")
    await row.locator(".review-amount").fill("600.00")
    await row.locator(".review-reason").fill("核对培训合同后核定")
    await shot(page, "1-reviewer-queue")
    await row.locator(".approve-review").click()
    await page.wait_for_selector("#message.ok >> text=批准复核：成功")
    await page.click("#logout")

    # Finance puts money into the special account; hr builds a batch and approves it.
    await login(page, console, "finance-zhao", secrets["finance-zhao"])
    await page.fill("#alloc-ref", "TCZ-2020-0601")
    await page.select_option("#alloc-source", "unemployment_insurance_surplus")
    await page.fill("#alloc-district", "320612")
    await page.fill("#alloc-yuan", "10,000.00")
    await page.click("#alloc-submit")
    await page.wait_for_selector("#message.ok >> text=起草拨款：成功")
    await page.click("#logout")
    # Maker-checker (十二.2): hr approves the drafted allocation, a second finance officer books it.
    await login(page, console, "hr-li", secrets["hr-li"])
    item_row = page.locator("#drafted-items tr[data-item]")
    await item_row.wait_for()
    await item_row.locator(".approve-item").click()
    await page.wait_for_selector("#message.ok >> text=审批拨款：成功")
    await page.click("#logout")
    await login(page, console, "finance-qian", secrets["finance-qian"])
    booked = page.locator("#approved-items tr[data-item] .release-item")
    await booked.wait_for()
    await booked.click()
    await page.wait_for_selector("#message.ok >> text=拨款入账：成功")
    await page.click("#logout")

    async with httpx.AsyncClient(base_url=platform["registry"]) as reg, \
            httpx.AsyncClient(base_url=platform["payments"]) as pay, \
            httpx.AsyncClient(base_url=platform["eligibility"]) as eli:
        hr_token = await token(reg, "hr-li", secrets["hr-li"])
        notices = (await eli.get("/v1/public/notices")).json()
        assert len(notices) == 2 and {n["id_last4"] for n in notices} == {resident_id(801)[-4:],
                                                                          resident_id(802)[-4:]}
        undrafted = await pay.get("/v1/disbursements", params={"status": "reserved"}, headers=hr_token)
        assert undrafted.json() == []  # in notice: not payable yet
        reviewer = await token(reg, "reviewer-wang", secrets["reviewer-wang"])
        assert await end_notices(platform, reviewer) == 2

        async def both_reserved() -> list[Any] | None:
            r = await pay.get("/v1/disbursements", params={"status": "reserved"}, headers=hr_token)
            return r.json() if r.status_code == 200 and len(r.json()) == 2 else None

        await eventually(both_reserved, timeout=60)
        await login(page, console, "hr-li", secrets["hr-li"])
        await page.click("#batch-create")
        await page.wait_for_selector("#message.ok >> text=生成批次：成功")
        batch_row = page.locator("#open-batches tr[data-batch]")
        await batch_row.wait_for()
        batch_id = await batch_row.get_attribute("data-batch")
        await shot(page, "2-hr-batch")
        await batch_row.locator(".approve-batch").click()
        await page.wait_for_selector("#message.ok >> text=审批批次：成功")
        await page.click("#logout")

        await login(page, console, "finance-zhao", secrets["finance-zhao"])
        release = page.locator(f"#approved-batches tr[data-batch='{batch_id}'] .release-batch")
        await release.click()
        await page.wait_for_selector("#message.ok >> text=放款：成功")
        await shot(page, "3-finance-released")

        # The state, read through the APIs as any client would.
        review = (await eli.get("/v1/reviews", params={"status": "approved"}, headers=await token(reg, "demo-auditor")))
        done = next(r for r in review.json() if r["review_id"] == seeded["review_id"])
        assert (done["resolved_by"], done["amount_fen"]) == ("reviewer-wang", 60000)
        batch = (await pay.get(f"/v1/batches/{batch_id}", headers=hr_token)).json()
        assert (batch["status"], batch["created_by"], batch["approved_by"], batch["released_by"]) == (
            "released", "hr-li", "hr-li", "finance-zhao")
        assert batch["items"] == 2 and batch["total_fen"] == seeded["paid"]["amount_fen"] + 60000
        audits = {}
        auditor = await token(reg, "demo-auditor")
        for name in ("eligibility", "payments"):
            async with httpx.AsyncClient(base_url=platform[name]) as svc:
                audits[name] = (await svc.get("/v1/audit", params={"limit": 1000}, headers=auditor)).json()
        assert any(e["actor"] == "reviewer-wang" and e["action"].endswith("/resolution") for e in audits["eligibility"])
        assert {("hr-li", "POST /v1/batches/{batch_id}/approve"), ("finance-zhao", "POST /v1/allocations"),
                ("hr-li", "POST /v1/manual-items/{item_id}/approve"),
                ("finance-qian", "POST /v1/manual-items/{item_id}/release"),
                ("finance-zhao", "POST /v1/batches/{batch_id}/release")} <= {
            (e["actor"], e["action"]) for e in audits["payments"]}
        funds = (await pay.get("/v1/funds")).json()  # the public form, as the dashboard reads it
        exact = (await pay.get("/v1/funds", headers=hr_token)).json()
    assert exact[0]["available_fen"] > 0 and not exact[0]["money_suppressed"]
    await dashboard_matches(page, platform, funds)
    assert offline == [], f"the console fetched from outside localhost: {offline}"


async def dashboard_matches(page: Any, platform: dict[str, str], funds: list[dict[str, Any]]) -> None:
    """The public dashboard, after the payment: the special account as payments has it, the views by
    clause and department, the trend axis over the plan, and T2/T3 awaiting the statistics bureau."""
    await page.goto(f"{platform['reporting']}/dashboard?payments={platform['payments']}")
    await page.wait_for_selector("body[data-loaded='true']")
    await page.wait_for_selector("#account-section[data-loaded='true']")
    assert await page.text_content("#account-allocated") == "10,000.00"  # allocations are published whole
    # live balances are staff-only (a day's difference is one payment): the public page prints "—"
    assert all(r["money_suppressed"] and r["available_fen"] is None for r in funds)
    for field in ("balance", "reserved", "available"):
        assert await page.text_content(f"#account-{field}") == "—", field
    assert "不对公众公开" in await page.text_content("#account-status")
    async with httpx.AsyncClient(base_url=platform["payments"]) as pay:  # the published total
        waiting = (await pay.get("/v1/funds/totals")).json()["waiting"]
    assert await page.text_content("#account-waiting") == ("—" if waiting is None else f"{waiting:,}")
    async with httpx.AsyncClient(base_url=platform["reporting"]) as rep:
        detail = (await rep.get("/v1/progress")).json()["person_times_detail"]
    for table, key in (("by-clause", "clause"), ("by-department", "department")):
        want = {r[key]: "不足公开阈值" if r.get("suppressed") else f"{r['count']:,}"
                for r in detail[table.replace("-", "_")]}
        shown = {k: await page.text_content(f"#{table} tr[data-key='{k}'] .count") for k in want}
        assert shown == want and list(want) == (["四.4"] if key == "clause" else ["人社局"]), (table, shown)
    labels = await page.locator("#trend-chart text").all_text_contents()
    assert "2021Q4" in labels and not any(t.startswith(("2022", "2026")) for t in labels), labels
    # No employed-person figures were put: T2 (skilled ÷ employed) awaits the statistics bureau.
    assert await page.text_content("[data-target='T2'] .actual") == "待统计局提供就业人员数"
    assert await page.text_content("#skilled-share") == "待统计局数据"
    await shot(page, "4-dashboard")
