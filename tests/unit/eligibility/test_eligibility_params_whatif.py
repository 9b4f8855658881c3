"""Dated parameters, one half-up rounding, what-if."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from elig_builders import CATALOG, LATHE, PARAMS, WELDER, D, cert, cert_id, pk, worker
from hypothesis import given, settings
from hypothesis import strategies as st

from services.eligibility import facts as f
from services.eligibility.catalog import CatalogLine
from services.eligibility.params import load_parameters_text
from services.eligibility.rules import CLAUSE_KEYS, std_amount
from services.eligibility.triggers import TRIGGER_KEYS
from services.eligibility.whatif import WhatIfCase, merge, what_if

TWO_VERSIONS = """
set_version: t1
parameters:
  - key: plan.period_from
    type: date
    values: [{value: 2019-01-01, valid_from: 2019-01-01, valid_to: null, version: v1}]
  - key: plan.period_to
    type: date
    values: [{value: 2021-12-31, valid_from: 2019-01-01, valid_to: null, version: v1}]
  - key: notice.working_days
    type: int
    values: [{value: 5, valid_from: 2019-01-01, valid_to: null, version: v1}]
  - key: waiting.facts_days
    type: int
    values: [{value: 30, valid_from: 2019-01-01, valid_to: null, version: v1}]
  - key: 四.4.shortage_uplift
    type: share
    values:
      - {value: "1.3", valid_from: 2019-01-01, valid_to: 2020-12-31, version: a}
      - {value: "1.5", valid_from: 2021-01-01, valid_to: null, version: b, example: true}
"""


def test_every_parameter_the_rules_read_is_in_the_shipped_file() -> None:
    needed = {k for keys in [*CLAUSE_KEYS.values(), *TRIGGER_KEYS.values()] for k in keys}
    assert needed <= set(PARAMS.versions)


def test_values_the_plan_leaves_open_are_marked_as_examples() -> None:
    assert {"四.5a.reward_fen", "五.2b.per_day_fen", "五.3.per_month_fen", "六.training_fen",
            "五.4.training_fen"} <= PARAMS.example_keys()
    assert "四.4.shortage_uplift" not in PARAMS.example_keys()


def test_the_value_in_force_follows_the_date() -> None:
    params = load_parameters_text(TWO_VERSIONS)
    assert params.at(D(2020, 12, 31)).get("四.4.shortage_uplift") == Fraction(13, 10)
    assert params.at(D(2021, 1, 1)).versions["四.4.shortage_uplift"] == "b"
    assert not params.at(D(2018, 12, 31)).has("四.4.shortage_uplift")


def test_a_parameter_file_without_the_plan_period_is_refused() -> None:
    with pytest.raises(ValueError, match="plan.period_to"):
        load_parameters_text(TWO_VERSIONS.replace("plan.period_to", "plan.period_end"))


def test_a_payee_table_naming_an_unknown_payee_is_refused() -> None:
    text = TWO_VERSIONS + """  - key: payee.kind
    type: text_table
    values: [{value: {"四.2": college}, valid_from: 2019-01-01, valid_to: null, version: v1}]
"""
    with pytest.raises(ValueError, match="college"):
        load_parameters_text(text)


def test_the_database_cap_follows_the_largest_cap_in_force_in_a_year() -> None:
    raised = PARAMS.with_value("十三.1.per_year_cap", 4, D(2021, 7, 1), "cap4")
    assert (PARAMS.max_in_year("十三.1.per_year_cap", 2021), raised.max_in_year("十三.1.per_year_cap", 2021)) == (3, 4)
    assert raised.max_in_year("十三.1.per_year_cap", 2020) == 3


def test_overlapping_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        load_parameters_text(TWO_VERSIONS.replace("valid_to: 2020-12-31", "valid_to: 2021-01-01"))


def test_with_value_ends_the_old_version_the_day_before() -> None:
    changed = PARAMS.with_value("四.4.shortage_uplift", Fraction(3, 2), D(2020, 7, 1), "w")
    assert changed.at(D(2020, 6, 30)).get("四.4.shortage_uplift") == Fraction(13, 10)
    assert changed.at(D(2020, 7, 1)).get("四.4.shortage_uplift") == Fraction(3, 2)
    assert PARAMS.differing_keys(changed) == frozenset({"四.4.shortage_uplift"})


def test_amount_is_rounded_once_half_up_at_the_end() -> None:
    std = CatalogLine(LATHE, 4, 100001, 0, D(2019, 1, 1), None, "t")
    # 1000.01 × 1/2 × 13/10 = 650.0065 yuan: one rounding gives 650.01, not 650.00 or 650.02
    assert std_amount(std, Fraction(1, 2), Fraction(13, 10)).fen == 65001
    assert std_amount(std, Fraction(1, 2), None).fen == 50001  # 500.005 rounds up


def _case(i: int, occ: str, issue: dt.date, district: str = "320612") -> WhatIfCase:
    return WhatIfCase(cert(certificate_id=cert_id(f"c{i}"), occupation_code=occ, issue_date=issue,
                           received_on=issue + dt.timedelta(days=20)), worker(person_id=pk(f"p{i}")), district)


CASES = [_case(1, LATHE, D(2020, 3, 1)), _case(2, LATHE, D(2019, 3, 1), "320613"),
         _case(3, WELDER, D(2020, 3, 1)), _case(4, LATHE, D(2021, 3, 1))]


def test_what_if_reports_the_change_by_clause_and_district() -> None:
    changed = PARAMS.with_value("四.4.shortage_uplift", Fraction(3, 2), D(2021, 1, 1), "w")
    s = what_if(CASES, PARAMS, changed, catalog=CATALOG)
    # only c4 (shortage, 2021) changes: 1,400 × 50% × (1.5 − 1.3) = 140 yuan
    assert (s.count_delta, s.fen_delta) == (0, 14000)
    assert {(r.clause, r.district, r.fen_delta) for r in s.rows if r.fen_delta} == {
        ("四.4", "320612", 14000)}
    assert s.persons_rerun == 4  # every 四.4 decision reads the uplift key, even non-shortage


def test_what_if_with_the_same_parameters_changes_nothing_and_reruns_no_one() -> None:
    s = what_if(CASES, PARAMS, PARAMS, catalog=CATALOG)
    assert (s.count_delta, s.fen_delta, s.persons_rerun) == (0, 0, 0)
    assert sum(r.base_count for r in s.rows) == 4


def test_what_if_counts_approvals_gained_when_a_cap_is_raised() -> None:
    certs = [cert(certificate_id=cert_id(f"c{i}"), occupation_code=None, kind=f.SPECIAL_EQUIPMENT,
                  level=None, operation_item=f"Q{i}") for i in range(5)]
    cases = [WhatIfCase(c, worker(), "320612") for c in certs]
    raised = PARAMS.with_value("十三.1.per_year_cap", 4, D(2019, 1, 1), "cap4")
    s = what_if(cases, PARAMS, raised, catalog=CATALOG)
    assert (s.count_delta, s.fen_delta) == (1, 30000)


def test_merged_shards_equal_one_run() -> None:
    changed = PARAMS.with_value("四.4.shortage_uplift", Fraction(3, 2), D(2020, 1, 1), "w")
    whole = what_if(CASES, PARAMS, changed, catalog=CATALOG)
    parts = merge([what_if(CASES[:2], PARAMS, changed, catalog=CATALOG),
                   what_if(CASES[2:], PARAMS, changed, catalog=CATALOG)])
    assert parts.rows == whole.rows and parts.persons == whole.persons


OCCS = [LATHE, WELDER, "6-99-99-99"]
certificates = st.builds(
    lambda i, occ, level, day, tk: cert(
        certificate_id=cert_id(f"c{i}"), occupation_code=occ, level=level,
        issue_date=D(2019, 1, 1) + dt.timedelta(days=day), training_kind=tk, training_start=D(2019, 1, 1)),
    st.integers(0, 30), st.sampled_from(OCCS), st.sampled_from([5, 4, 3]), st.integers(0, 3 * 365),
    st.sampled_from([None, f.ON_THE_JOB, f.PRE_JOB]),
)
people = st.sampled_from([
    worker(), worker(registered_unemployed=True, employed=False),
    worker(hire_date=D(2018, 6, 1), contract_months=12),
])


@settings(max_examples=50, deadline=None)
@given(st.lists(certificates, min_size=1, max_size=12), people)
def test_what_if_with_identical_parameters_never_shows_a_change(
    certs: list[f.CertificateFacts], person: f.PersonFacts,
) -> None:
    cases = [WhatIfCase(c, person, "320612") for c in certs]
    s = what_if(cases, PARAMS, PARAMS.with_value("五.2.share", Fraction(1), D(2019, 1, 1), "x"),
                catalog=CATALOG)
    assert (s.count_delta, s.fen_delta) == (0, 0)


def test_a_payee_table_that_leaves_a_clause_without_a_payee_is_refused() -> None:
    text = TWO_VERSIONS + """  - key: payee.kind
    type: text_table
    values: [{value: {"四.2": worker}, valid_from: 2019-01-01, valid_to: null, version: v1}]
"""
    with pytest.raises(ValueError, match="names no payee"):
        load_parameters_text(text)
