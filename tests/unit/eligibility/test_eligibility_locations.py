"""Issue 11: the three location checks (十三.2 obtained in Nantong, 四.5b Nantong employer and Nantong
insurance) fire on the data the feeders send, and an unknown location never passes. Each test names
what it guards: before, the inputs defaulted to True when the feeder said nothing."""

from __future__ import annotations

import pytest
from elig_builders import D, cert, codes, one, pk, worker

from services.eligibility import facts as f
from services.eligibility.facts import DegreeRecord
from services.eligibility.projection import FactRecord, snapshot
from services.eligibility.rules import MISSING_FACT_CODES
from services.registry.domain import FactKind
from services.registry.fact_contract import attribute_problems
from services.registry.schemas import CertificateCreate
from shared.ids import credit_code_check_char, credit_code_division
from shared.places import in_nantong

NANTONG_EMPLOYER = "91320612MA1N00001G"  # 通州区
NANTONG_CITY_EMPLOYER = "91320600MA1N000027"  # registered by the city (320600)
FUZHOU = "91350100M000100Y43"
BEIJING = "91110000802100433B"
DEGREE_NO = "1032012020000123"
DEGREE = dict(kind=f.DEGREE, level=None, occupation_code=None, number=DEGREE_NO, issue_date=D(2020, 6, 1))
FURTHER = dict(degree_records={DEGREE_NO: DegreeRecord("adult", "associate")})
ABILITY_CERT = dict(kind=f.SPECIAL_ABILITY, occupation_code="4-10-01-05", level=None)


def test_the_division_is_read_from_characters_3_to_8_of_the_credit_code() -> None:
    assert credit_code_division(NANTONG_EMPLOYER) == "320612"
    assert credit_code_division(FUZHOU) == "350100"
    assert credit_code_division("X1") is None
    assert credit_code_division("9135ABCDM000100Y43") is None
    assert in_nantong("320612") and in_nantong("320600") and in_nantong("320671")
    assert not in_nantong("350100") and not in_nantong("110000") and not in_nantong("3206")
    assert credit_code_check_char(NANTONG_EMPLOYER[:17]) == NANTONG_EMPLOYER[17]


# --- projection: the facts as the feeders send them ------------------------------------------

def _person(*records: FactRecord) -> f.PersonFacts:
    return snapshot(pk("p"), records, D(2020, 6, 1))


def _employment(**attrs: object) -> FactRecord:
    return FactRecord("employment", D(2018, 1, 1), None, {"hire_date": "2018-01-01", **attrs})


def _pension(**attrs: object) -> FactRecord:
    return FactRecord("pension_insurance_months", D(2018, 1, 1), None, {"months": 24, **attrs})


@pytest.mark.parametrize("attrs,expected", [
    ({"employer_code": NANTONG_EMPLOYER}, True),
    ({"employer_code": NANTONG_CITY_EMPLOYER}, True),
    ({"employer_code": BEIJING}, False),
    # the old default: a Fuzhou employer with no flag was "in Nantong"; the code decides now
    ({"employer_code": FUZHOU, "employer_in_nantong": True}, False),
    ({"employer_code": "320612-0001", "employer_in_nantong": True}, True),
    ({"employer_code": "320612-0001"}, None),  # stored before the registry asked: unknown
])
def test_the_employer_location_comes_from_its_credit_code(attrs: dict[str, object], expected: bool | None) -> None:
    assert _person(_employment(**attrs)).employer_in_nantong is expected


@pytest.mark.parametrize("record,expected", [
    (_pension(insured_region="320612"), True),
    (_pension(insured_region="320100"), False),
    (_pension(insured_in_nantong=True), True),
    (_pension(), None),  # the old default made this True
    (None, None),
])
def test_the_insured_region_comes_from_the_pension_record(record: FactRecord | None, expected: bool | None) -> None:
    assert _person(*([record] if record else [])).pension_insured_in_nantong is expected


# --- 四.5b: the pure rule ---------------------------------------------------------------------

def _degree(**person: object) -> set[str]:
    d = one(cert(**DEGREE), worker(**{**FURTHER, **person}))
    assert d.clause == "四.5b"
    assert d.outcome == ("approved" if not person else "rejected"), d.explanation_en
    return codes(d)


def test_a_nantong_employee_insured_in_nantong_gets_the_degree_reward() -> None:
    _degree()


@pytest.mark.parametrize("person,reason", [
    ({"employer_in_nantong": False}, "not_employed_and_insured_in_nantong"),
    ({"pension_insured_in_nantong": False}, "pension_insured_outside_nantong"),
    ({"employer_in_nantong": None}, "employer_place_unknown"),
    ({"pension_insured_in_nantong": None}, "pension_insured_place_unknown"),
    ({"employed": False, "employer_id": None, "employer_in_nantong": None}, "employer_unknown"),
])
def test_a_location_outside_nantong_or_unknown_refuses_4_5b(person: dict[str, object], reason: str) -> None:
    assert reason in _degree(**person)


def test_an_unknown_insured_region_is_a_missing_fact_and_not_months_short() -> None:
    found = _degree(pension_insured_in_nantong=None, pension_contribution_months=0)
    assert found & MISSING_FACT_CODES == {"pension_insured_place_unknown"}
    assert "pension_contributions_under_minimum" not in found


def test_the_missing_location_reasons_are_routable_as_missing_facts() -> None:
    assert {"employer_place_unknown", "pension_insured_place_unknown", "employer_unknown",
            "issue_place_unknown", "completed_hours_unknown"} <= MISSING_FACT_CODES
    assert "not_employed_and_insured_in_nantong" not in MISSING_FACT_CODES


# --- 十三.2: obtained in Nantong ----------------------------------------------------------------

@pytest.mark.parametrize("where,outcome,reason", [
    (True, "approved", None), (False, "rejected", "not_obtained_in_nantong"), (None, "rejected", "issue_place_unknown"),
])
def test_a_special_ability_certificate_must_be_known_to_be_obtained_in_nantong(
        where: bool | None, outcome: str, reason: str | None) -> None:
    d = one(cert(**ABILITY_CERT, issued_in_nantong=where, training_kind=f.ON_THE_JOB), worker())
    assert d.outcome == outcome, d.explanation_en
    assert "十三.2" in d.clauses_cited
    if reason:
        assert reason in codes(d)


# --- the registry's edge: what a feeder or an institution must send ----------------------------

CERT = dict(number="Y" + "1" * 21, kind="special_ability", resident_id="11010519491231002X", issue_date="2020-01-01")


def test_the_registry_derives_issued_in_nantong_from_the_issuer() -> None:
    assert CertificateCreate.model_validate({**CERT, "issuer_code": "52320613MJ0000003P"}).issued_in_nantong is True
    assert CertificateCreate.model_validate({**CERT, "issuer_code": FUZHOU}).issued_in_nantong is False


@pytest.mark.parametrize("extra,field", [
    ({"issuer_code": FUZHOU, "issued_in_nantong": True}, "issued_in_nantong"),
    ({"issuer_code": "9135ABCDM000100Y43"}, "issuer_code"),
])
def test_a_certificate_whose_issuer_says_nothing_of_its_place_is_refused(extra: dict[str, object], field: str) -> None:
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as err:
        CertificateCreate.model_validate({**CERT, **extra})
    assert [e["loc"][0] for e in err.value.errors()] == [field]


@pytest.mark.parametrize("kind,attrs,field", [
    (FactKind.EMPLOYMENT, {"employer_code": "320612-0001", "hire_date": "2020-01-01"},
     "attributes.employer_in_nantong"),
    (FactKind.EMPLOYMENT, {"employer_code": BEIJING, "hire_date": "2020-01-01", "employer_in_nantong": True},
     "attributes.employer_in_nantong"),
    (FactKind.PENSION_INSURANCE_MONTHS, {"months": 24}, "attributes.insured_region"),
    (FactKind.PENSION_INSURANCE_MONTHS, {"months": 24, "insured_region": "3206"}, "attributes.insured_region"),
    (FactKind.PENSION_INSURANCE_MONTHS, {"months": 24, "insured_region": "320100", "insured_in_nantong": True},
     "attributes.insured_in_nantong"),
])
def test_a_fact_that_does_not_say_where_is_refused_naming_the_field(
        kind: FactKind, attrs: dict[str, object], field: str) -> None:
    assert [p[0] for p in attribute_problems(kind, attrs)] == [field]


@pytest.mark.parametrize("kind,attrs", [
    (FactKind.EMPLOYMENT, {"employer_code": NANTONG_EMPLOYER, "hire_date": "2020-01-01"}),
    (FactKind.EMPLOYMENT, {"employer_code": "320612-0001", "hire_date": "2020-01-01", "employer_in_nantong": False}),
    (FactKind.PENSION_INSURANCE_MONTHS, {"months": 24, "insured_region": "320612"}),
    (FactKind.PENSION_INSURANCE_MONTHS, {"months": 24, "insured_in_nantong": True}),
])
def test_a_fact_that_says_where_is_accepted(kind: FactKind, attrs: dict[str, object]) -> None:
    assert attribute_problems(kind, attrs) == []
