"""T5 (a technical school in every county-level unit) from the registry's institution events, and
T6 (staff-education funds on front-line workers) from figures the bureau loads over REST."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from services.reporting.main import create_app
from shared.events import Envelope, InstitutionRecordedV1, new_envelope
from tests.conftest import bearer, serve
from tests.integration.reporting.helpers import publish

pytestmark = pytest.mark.usefixtures("drop_test_databases")
SCHOOL_A, SCHOOL_B, TRAINER = "91320600MA1000001A", "91320600MA1000002B", "91320600MA1000003C"


def institution(code: str, kind: str, district: str, listed_from: str, listed_to: str | None,
                at: str) -> Envelope:
    payload = InstitutionRecordedV1(
        credit_code=code, name="学校", kind=kind, district=district,
        listed_from=dt.date.fromisoformat(listed_from),
        listed_to=dt.date.fromisoformat(listed_to) if listed_to else None)
    env = new_envelope(payload, key=code, producer="registry")
    return env.model_copy(update={"occurred_at": dt.datetime.fromisoformat(at)})


def target(body: dict[str, Any], target_id: str) -> dict[str, Any]:
    return next(t for t in body["targets"] if t["id"] == target_id)


async def test_t5_counts_units_with_a_technical_school_listed_on_the_day_and_the_latest_record_wins(settings) -> None:
    school_a = institution(SCHOOL_A, "technical_school", "320611", "2019-01-01", None, "2020-01-05T09:00:00+08:00")
    school_b = institution(SCHOOL_B, "technical_school", "320612", "2019-05-01", None, "2020-01-05T09:00:00+08:00")
    b_delisted = institution(SCHOOL_B, "technical_school", "320612", "2019-05-01", "2020-06-30",
                             "2020-07-02T09:00:00+08:00")
    trainer = institution(TRAINER, "training", "320623", "2019-01-01", None, "2020-01-05T09:00:00+08:00")
    async with serve(create_app(settings)) as rep:
        before = (await rep.get("/v1/progress", params={"as_of": "2020-03-31"})).json()
        assert target(before, "T5")["actual"] is None  # no school recorded yet: no figure, no alarm
        await publish(settings, [trainer, school_a, b_delisted, school_b])  # the stale record comes last

        async def observed() -> tuple[Any, Any, dict[str, Any]]:
            spring = (await rep.get("/v1/progress", params={"as_of": "2020-03-31"})).json()
            winter = (await rep.get("/v1/progress", params={"as_of": "2020-12-31"})).json()
            listed = (await rep.get("/v1/districts", params={"as_of": "2020-12-31"})).json()["districts"]
            return (target(spring, "T5")["actual"], target(winter, "T5")["actual"],
                    {r["code"]: r["technical_school"] for r in listed})

        # 11 units before the July 2020 merges; schools in 320611 (港闸) and 320612 (通州). 10 units
        # after: 港闸's school now counts for the new 崇川 (320613); 通州's was delisted.
        # The four records apply one by one: wait for the whole state asserted (T5 shows a value
        # as soon as one school is in), then assert what was last seen.
        def settled(seen: tuple[Any, Any, dict[str, Any]]) -> bool:
            spring, winter, rows = seen
            return (spring == round(2 / 11, 4) and winter == round(1 / 10, 4)
                    and rows.get("320613") is True and rows.get("320612") is False)

        deadline = asyncio.get_running_loop().time() + 30.0
        seen = await observed()
        while not settled(seen) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            seen = await observed()
        spring, winter, rows = seen
        assert spring == round(2 / 11, 4)
        assert winter == round(1 / 10, 4)
        assert rows["320613"] is True and rows["320612"] is False and rows["320623"] is False

async def test_t6_is_the_front_line_share_of_the_latest_loaded_year_and_bad_loads_name_the_field(settings) -> None:
    bureau = bearer("demo-bureau", "bureau")
    url = "/v1/statistics/staff-education"
    load = {"year": 2020, "figures": [{"district": "320612", "total_fen": 1_000_00, "frontline_fen": 70_000},
                                      {"district": "320623", "total_fen": 1_000_00, "frontline_fen": 50_000}]}
    async with serve(create_app(settings)) as rep:
        assert (await rep.put(url, json=load)).status_code == 401
        assert (await rep.put(url, json=load, headers=bearer("demo-institution", "institution"))).status_code == 403
        over = {"year": 2020, "figures": [{"district": "320612", "total_fen": 100, "frontline_fen": 101}]}
        got = await rep.put(url, json=over, headers=bureau)
        assert got.status_code == 422 and got.json()["errors"][0]["field"] == "figures.0.frontline_fen"
        gone = {"year": 2021, "figures": [{"district": "320611", "total_fen": 100, "frontline_fen": 1}]}
        got = await rep.put(url, json=gone, headers=bureau)  # 港闸 no longer existed in 2021
        assert got.status_code == 422 and got.json()["errors"][0]["field"] == "figures.0.district"
        assert target((await rep.get("/v1/progress", params={"as_of": "2020-12-31"})).json(), "T6")["actual"] is None

        ok = await rep.put(url, json=load, headers=bureau)
        assert ok.status_code == 200 and ok.json()["frontline_share"] == 0.6
        body = (await rep.get("/v1/progress", params={"as_of": "2020-12-31"})).json()
        assert target(body, "T6")["actual"] == 0.6 and not target(body, "T6")["behind"]
        # A 2019 question does not see 2020's figures.
        assert target((await rep.get("/v1/progress", params={"as_of": "2019-12-31"})).json(), "T6")["actual"] is None

        corrected = {"year": 2020, "figures": [{"district": "320623", "total_fen": 1_000_00, "frontline_fen": 30_000}]}
        assert (await rep.put(url, json=corrected, headers=bureau)).status_code == 200
        body = (await rep.get("/v1/progress", params={"as_of": "2021-06-30"})).json()  # latest year up to as_of
        assert target(body, "T6")["actual"] == 0.5 and target(body, "T6")["behind"]
