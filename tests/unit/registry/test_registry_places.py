"""Nantong's dated county-level units and the 2020-07 merges (REFERENCE.md)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.places import (
    UnknownPlace,
    default_places,
    name_zh,
    parse_places,
    rolled_into,
    successor,
    unit_on,
    units_valid_on,
)

BEFORE, AFTER = date(2020, 6, 30), date(2020, 7, 1)
CURRENT = {
    "320613",
    "320612",
    "320614",
    "320623",
    "320681",
    "320682",
    "320685",
    "320671",
    "NT-SUTONG",
    "NT-TONGZHOUWAN",
}


def codes_on(day: date) -> set[str]:
    return {p.code for p in units_valid_on(day)}


def test_old_chongchuan_and_gangzha_end_when_new_chongchuan_begins() -> None:
    assert {"320602", "320611", "320684"} <= codes_on(BEFORE)
    assert "320613" not in codes_on(BEFORE) and "320614" not in codes_on(BEFORE)
    assert codes_on(AFTER) == CURRENT


def test_unit_on_answers_none_outside_a_units_validity() -> None:
    assert unit_on("320611", BEFORE) is not None
    assert unit_on("320611", AFTER) is None
    assert unit_on("320613", BEFORE) is None


def test_merged_units_roll_into_their_successors() -> None:
    assert successor("320602") == successor("320611") == "320613"
    assert successor("320684") == "320614"
    assert successor("320621") == "320685"
    assert successor("320612") == "320612"


def test_a_district_scope_covers_its_predecessors() -> None:
    assert rolled_into("320613") == {"320602", "320611", "320613"}
    assert rolled_into("320611") == rolled_into("320613")
    assert rolled_into("320623") == {"320623"}


def test_units_without_a_code_have_stable_synthetic_ids_and_dated_names() -> None:
    assert name_zh("NT-SUTONG", date(2020, 4, 30)) == "苏通科技产业园区"
    assert name_zh("NT-SUTONG", date(2020, 5, 1)) == "苏锡通科技产业园区"
    assert name_zh("NT-TONGZHOUWAN") == "通州湾示范区"


def test_unknown_code_is_an_error() -> None:
    with pytest.raises(UnknownPlace):
        successor("320600")


@given(st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)))
def test_on_any_day_the_valid_units_roll_up_onto_exactly_the_current_units(day: date) -> None:
    assert {successor(p.code) for p in units_valid_on(day)} == CURRENT


def test_a_successor_that_does_not_exist_is_refused() -> None:
    document = {"units": [{"code": "A", "names": [{"name_zh": "甲"}], "successor": "B"}]}
    with pytest.raises(ValueError, match="successor B"):
        parse_places(document)


def test_every_unit_in_the_shipped_file_has_a_name() -> None:
    assert all(p.name_on() for p in default_places().units.values())
