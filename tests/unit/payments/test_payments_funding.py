from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

import pytest

from services.payments.funding import (
    advance_ratio,
    choose_source,
    load_funding,
    parse_funding,
    route_for,
)
from services.payments.ledger import DomainError, FundingSource

PARAMS = load_funding()
UIS = FundingSource.UNEMPLOYMENT_INSURANCE_SURPLUS
SUBSIDY = FundingSource.EMPLOYMENT_SUBSIDY


def test_shipped_routing_is_marked_as_example_values() -> None:
    assert PARAMS.example and "example" in PARAMS.version


def test_clause_4_4_is_paid_from_the_unemployment_insurance_surplus() -> None:
    route = route_for(PARAMS, "四.4", date(2020, 5, 1))
    assert route.sources == (UIS,)


def test_a_route_names_no_payee_each_decision_does() -> None:
    with pytest.raises(DomainError, match=r"unknown key\(s\) \['payee'\]"):
        parse_funding({"version": "t", "routes": [_route(payee="worker_card")]})


def test_routing_follows_the_date_of_the_decision() -> None:
    assert route_for(PARAMS, "四.7", date(2019, 12, 31)).sources == (SUBSIDY,)
    assert route_for(PARAMS, "四.7", date(2020, 1, 1)).sources[0] is UIS


def test_degree_reward_has_no_route_before_it_takes_effect() -> None:
    with pytest.raises(DomainError, match="no funding route for clause 四.5b on 2019-06-30"):
        route_for(PARAMS, "四.5b", date(2019, 6, 30))


def test_falls_back_to_the_next_source_when_the_primary_cannot_cover() -> None:
    route = route_for(PARAMS, "四.2", date(2020, 5, 1))
    assert choose_source(route, 100, {UIS: 99, SUBSIDY: 100}) is SUBSIDY
    assert choose_source(route, 100, {UIS: 100, SUBSIDY: 100}) is UIS


def test_when_no_source_can_cover_the_draft_waits_on_the_primary() -> None:
    route = route_for(PARAMS, "四.2", date(2020, 5, 1))
    assert choose_source(route, 100, {UIS: 0, SUBSIDY: 0}) is UIS


def test_a_source_with_a_queue_is_skipped_even_if_it_could_cover() -> None:
    route = route_for(PARAMS, "四.2", date(2020, 5, 1))
    assert choose_source(route, 100, {UIS: 500, SUBSIDY: 500}, {UIS: 1}) is SUBSIDY


def test_advance_ratio_is_a_dated_half() -> None:
    assert advance_ratio(PARAMS, date(2019, 1, 1)) == Fraction(1, 2)
    with pytest.raises(DomainError):
        advance_ratio(PARAMS, date(2018, 12, 31))


def _route(**over: Any) -> dict[str, Any]:
    base = {"clause": "四.4", "valid_from": date(2019, 1, 1), "valid_to": None,
            "sources": ["unemployment_insurance_surplus"]}
    return base | over


def test_overlapping_routes_for_one_clause_are_refused() -> None:
    data = {"version": "t", "routes": [_route(), _route(valid_from=date(2020, 1, 1))]}
    with pytest.raises(DomainError, match="overlapping"):
        parse_funding(data)


def test_back_to_back_routes_are_accepted() -> None:
    data = {"version": "t", "routes": [_route(valid_to=date(2020, 1, 1)),
                                       _route(valid_from=date(2020, 1, 1))]}
    assert len(parse_funding(data).routes) == 2


@pytest.mark.parametrize("bad", [{"sources": []}, {"sources": ["gold"]}, {"payee": "cash"},
                                 {"valid_to": date(2018, 1, 1)}, {"clause": ""}])
def test_malformed_routes_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_funding({"version": "t", "routes": [_route(**bad)]})
