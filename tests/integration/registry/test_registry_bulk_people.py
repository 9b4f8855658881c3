"""Bulk people: the fast line check agrees with the model, events read back through the contract."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from services.registry.bulk import LineResult, render
from services.registry.bulk_checks import fast_resident_id
from services.registry.main import create_app
from shared.events import Envelope, PersonRegisteredV1, derived_event_id
from shared.ids import InvalidResidentId, parse_resident_id, resident_id_check_char
from shared.pii import decrypt_pii
from tests.conftest import serve
from tests.integration.registry.registry_helpers import auth, resident_id

ND = {"Content-Type": "application/x-ndjson"}
ids_near_valid = st.builds(
    lambda area, birth, seq, fix: (lambda f17: f17 + (resident_id_check_char(f17) if fix else "X"))(
        f"{area:06d}{birth}{seq:03d}"),
    st.integers(0, 999_999),
    st.one_of(st.dates(date(1700, 1, 1), date(2200, 12, 31)).map(lambda d: f"{d:%Y%m%d}"),
              st.from_regex(r"[0-9]{8}", fullmatch=True)),
    st.integers(0, 999), st.booleans())


@given(st.one_of(ids_near_valid, ids_near_valid.map(str.lower), st.text(min_size=18, max_size=18)))
def test_the_fast_resident_id_check_accepts_exactly_what_gb_11643_parsing_accepts(text_: str) -> None:
    try:
        rid = parse_resident_id(text_)
        expected = (rid.number, rid.birth_date, rid.sex)
    except InvalidResidentId:
        expected = None
    fast = fast_resident_id(text_)
    # Blank-padded input is left to the model (which refuses it on length): fast never says yes wrongly.
    assert fast == expected or (fast is None and text_ != text_.strip())


def test_rendered_results_are_the_json_of_each_line() -> None:
    results = [LineResult(1, "created", id="ab12"), LineResult(2, "error", "resident_id", 'bad "quote"')]
    assert [json.loads(line) for line in render(results).splitlines()] == [
        {"line": 1, "status": "created", "id": "ab12"},
        {"line": 2, "status": "error", "field": "resident_id", "reason": 'bad "quote"'}]


@pytest.mark.usefixtures("drop_test_databases")
async def test_bulk_people_events_follow_the_contract_and_repeats_and_odd_lines_are_judged_per_line(settings) -> None:
    async with serve(create_app(settings)) as reg:
        district = await auth(reg, "demo-district")
        lower_x = next(resident_id(i) for i in range(10, 200) if resident_id(i).endswith("X"))
        first = await reg.post("/v1/people", json={"resident_id": resident_id(7), "district": "320612"},
                               headers=district)
        assert first.status_code == 200
        lines = [{"resident_id": resident_id(1), "district": "320612"},
                 {"district": "320612", "resident_id": resident_id(1)},  # a repeat, keys in another order
                 {"resident_id": lower_x.lower(), "district": "320612"},  # the model normalises x to X
                 {"resident_id": resident_id(2), "district": "320612", "name": "张三"},  # extra field
                 {"resident_id": resident_id(3)},  # no district: district staff may not
                 {"resident_id": resident_id(7), "district": "320612"}]  # registered by POST already
        got = await reg.post("/v1/bulk/people", headers=district | ND,
                             content="\n".join(map(json.dumps, lines)).encode())
        results = [json.loads(line) for line in got.text.splitlines()]
        assert [r["status"] for r in results] == ["accepted", "accepted", "accepted", "error", "error", "accepted"]
        assert (results[3]["field"], results[4]["field"]) == ("name", "district")
        assert "张三" not in got.text
        runtime = reg._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.maker() as s:
            rows = (await s.execute(text("SELECT event_id, key, envelope::text FROM outbox "
                                         "WHERE envelope->>'type' = 'registry.person.registered' ORDER BY id"))).all()
            blob = await s.scalar(text("SELECT resident_id_cipher FROM people WHERE person_key = :k"),
                                  {"k": results[2]["id"]})
        assert len(rows) == 3 and [r.key for r in rows[1:]] == [results[0]["id"], results[2]["id"]]
        envelope = Envelope.model_validate_json(rows[2].envelope)
        assert envelope.event_id == rows[2].event_id == derived_event_id("person", results[2]["id"])
        assert envelope.parsed() == PersonRegisteredV1(person_key=results[2]["id"], district="320612",
                                                       birth_date=parse_resident_id(lower_x).birth_date,
                                                       sex=parse_resident_id(lower_x).sex)
        assert envelope.key == results[2]["id"] and envelope.occurred_at.tzinfo is not None
        assert decrypt_pii(runtime.state["pii_key"], blob) == lower_x and lower_x.encode() not in blob
