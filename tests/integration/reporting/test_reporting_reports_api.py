"""Reports are frozen at issue (十六); the dashboard and its assets are served offline."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from services.reporting.main import create_app
from services.reporting.projections import today
from tests.conftest import bearer, serve
from tests.integration.reporting.helpers import decided, eventually, publish

pytestmark = pytest.mark.usefixtures("drop_test_databases")


async def test_an_issued_report_keeps_its_bytes_when_later_events_arrive(settings) -> None:
    cut_off = today().isoformat()  # records are stamped with the Asia/Shanghai day
    async with serve(create_app(settings)) as rep:
        await publish(settings, [decided("p-1", "四.2", "approved", 70_000, "2020-05-10")])

        async def counted() -> Any:
            return (await rep.get("/v1/progress")).json()["person_times"] == 1

        await eventually(counted)
        body = {"kind": "annual", "period": "2020", "cut_off": cut_off}
        issued = await rep.post("/v1/reports", headers=bearer("demo-bureau", "bureau"), json=body)
        assert issued.status_code == 201, issued.text
        links = issued.json()["links"]
        first = {fmt: (await rep.get(url)).content for fmt, url in links.items()}
        assert "南通市职业技能提升行动" in first["html"].decode() and first["xlsx"][:2] == b"PK"
        assert "通州区" in first["csv"].decode("utf-8-sig")
        await publish(settings, [decided("p-2", "四.2", "approved", 80_000, "2020-06-10")])

        async def two() -> Any:
            return (await rep.get("/v1/progress")).json()["person_times"] == 2

        await eventually(two)
        again = {fmt: (await rep.get(url)).content for fmt, url in links.items()}
        assert again == first
        repeat = await rep.post("/v1/reports", headers=bearer("demo-bureau", "bureau"), json=body)
        assert repeat.status_code == 200 and repeat.json()["report_id"] == issued.json()["report_id"]
        runtime = rep._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.maker() as s:
            with pytest.raises(Exception, match="frozen"):
                await s.execute(text("UPDATE reports SET figures = '{}'::jsonb"))


async def test_report_requests_name_the_wrong_field(settings) -> None:
    async with serve(create_app(settings)) as rep:
        mixed = await rep.post("/v1/reports", headers=bearer("demo-bureau", "bureau"),
                               json={"kind": "annual", "period": "2020Q1", "cut_off": "2021-01-10"})
        assert mixed.status_code == 422 and mixed.json()["errors"][0]["field"] == "period"
        early = await rep.post("/v1/reports", headers=bearer("demo-bureau", "bureau"),
                               json={"kind": "quarterly", "period": "2020Q3", "cut_off": "2020-09-01"})
        assert early.status_code == 422 and early.json()["errors"][0]["field"] == "cut_off"
        missing = await rep.get("/v1/reports/00000000-0000-0000-0000-000000000000.csv")
        assert missing.status_code == 404


async def test_the_dashboard_and_its_assets_are_public_and_local(settings) -> None:
    async with serve(create_app(settings)) as rep:
        page = await rep.get("/dashboard")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'lang="zh-CN"' in page.text
        for asset in ("/dashboard.js", "/dashboard.css", "/static/dashboard.js"):
            assert (await rep.get(asset)).status_code == 200, asset
        assert (await rep.get("/v1/funds")).status_code == 200


async def test_loading_denominators_and_issuing_reports_need_a_bureau_token(settings) -> None:
    async with serve(create_app(settings)) as rep:
        body = {"year": 2020, "figures": [{"district": "320612", "employed": 10}]}
        assert (await rep.put("/v1/statistics/employed", json=body)).status_code == 401
        institution = bearer("demo-institution", "institution")
        assert (await rep.put("/v1/statistics/employed", json=body, headers=institution)).status_code == 403
        report = {"kind": "annual", "period": "2020", "cut_off": "2021-01-10"}
        assert (await rep.post("/v1/reports", json=report, headers=institution)).status_code == 403
        assert (await rep.get("/v1/progress")).status_code == 200  # the public part needs no login
