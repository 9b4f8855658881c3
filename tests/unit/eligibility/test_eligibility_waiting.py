"""A certificate that arrives before any of its holder's status facts waits as `pending` for
waiting.facts_days (30) after the registry received it, then is decided on what is known."""

from __future__ import annotations

import uuid

from elig_builders import CATALOG, PARAMS, D, cert, cert_id, pk

from services.eligibility import facts as f
from services.eligibility import reasons as rs
from services.eligibility.person import CERTIFICATE, PersonState, Trigger, _only_missing, decide_person
from services.eligibility.projection import FactRecord

EMPLOYED = FactRecord("employment", D(2020, 2, 15), None, {"employer_code": "91110000802100433B",
                                                           "hire_date": "2020-02-15", "contract_months": 36})
CERT = cert(certificate_id=cert_id("w1"), issue_date=D(2020, 5, 20), received_on=D(2020, 6, 1),
            training_kind=f.PRE_JOB, training_start=D(2020, 3, 1))
TRIGGER = Trigger(uuid.UUID(CERT.certificate_id), CERTIFICATE, 1, CERT.issue_date, cert=CERT)


def decided(today: D | None, *facts: FactRecord) -> tuple[str, dict[str, object], set[str]]:
    (got,) = decide_person(PersonState(pk("waiting"), facts, {}, (TRIGGER,), {}, today), CATALOG, PARAMS)
    return got.decision.outcome, dict(got.extra), {r.code for r in got.decision.reasons}


def test_a_certificate_before_any_fact_of_its_holder_is_pending_until_30_days_after_receipt() -> None:
    outcome, extra, codes = decided(D(2020, 6, 5))
    assert (outcome, extra, codes) == ("pending", {"pending_until": "2020-07-01"}, {"awaiting_holder_facts"})
    assert decided(D(2020, 7, 1))[0] == "pending"


def test_after_the_wait_it_is_decided_on_what_is_known() -> None:
    outcome, extra, codes = decided(D(2020, 7, 2))
    assert outcome == "rejected" and extra == {} and "not_employed" in codes


def test_once_a_fact_arrives_the_certificate_is_decided_at_once() -> None:
    assert decided(D(2020, 6, 5), EMPLOYED)[0] == "approved"


def test_a_dry_run_without_a_decision_day_never_waits() -> None:
    assert decided(None)[0] == "rejected"



# A holder with some status facts whose refusal names only a record that has not arrived (issue 11's
# missing-fact codes, here 四.5b's pension record): the same wait, naming the record.
DEGREE_NO = "1032012020000123"
DEGREE_CERT = cert(certificate_id=cert_id("d1"), kind=f.DEGREE, level=None, occupation_code=None, number=DEGREE_NO,
                   issue_date=D(2020, 6, 1), received_on=D(2020, 6, 1), training_start=None)
DEGREE_RECORD = FactRecord("degree_record", D(2020, 6, 1), None, {
    "certificate_number": DEGREE_NO, "study_mode": "adult", "education_level": "associate"})
NANTONG_JOB = FactRecord("employment", D(2018, 1, 1), None, {
    "employer_code": "91320612MA1N00001G", "hire_date": "2018-01-01", "contract_months": 36})


def degree_decided(today: D, *facts: FactRecord) -> tuple[str, dict[str, object], list[str]]:
    trigger = Trigger(uuid.UUID(DEGREE_CERT.certificate_id), CERTIFICATE, 1, DEGREE_CERT.issue_date, cert=DEGREE_CERT)
    (got,) = decide_person(PersonState(pk("degree"), facts, {}, (trigger,), {}, today), CATALOG, PARAMS)
    return got.decision.outcome, dict(got.extra), [r.code for r in got.decision.reasons]


def test_a_refusal_only_for_a_record_not_yet_arrived_waits_naming_it() -> None:
    outcome, extra, codes = degree_decided(D(2020, 6, 10), DEGREE_RECORD, NANTONG_JOB)
    assert (outcome, extra) == ("pending", {"pending_until": "2020-07-01"})
    assert codes == ["awaiting_record", "pension_insured_place_unknown"]
    # after the wait it is decided on what is known: refused, naming the record
    outcome, extra, codes = degree_decided(D(2020, 7, 2), DEGREE_RECORD, NANTONG_JOB)
    assert outcome == "rejected" and "pension_insured_place_unknown" in codes and extra == {}


def test_the_record_arriving_decides_it_and_a_finding_is_never_held() -> None:
    insured = FactRecord("pension_insurance_months", D(2018, 1, 1), None, {"months": 24, "insured_region": "320612"})
    assert degree_decided(D(2020, 6, 10), DEGREE_RECORD, NANTONG_JOB, insured)[0] == "approved"
    elsewhere = FactRecord("pension_insurance_months", D(2018, 1, 1), None, {"months": 24, "insured_region": "350100"})
    outcome, _, codes = degree_decided(D(2020, 6, 10), DEGREE_RECORD, NANTONG_JOB, elsewhere)
    assert outcome == "rejected" and "pension_insured_outside_nantong" in codes


def test_only_a_refusal_made_of_missing_records_is_held() -> None:
    assert _only_missing((rs.EMPLOYER_UNKNOWN,)) == (rs.EMPLOYER_UNKNOWN,)
    assert _only_missing((rs.EMPLOYER_UNKNOWN, rs.SHORTAGE)) == (rs.EMPLOYER_UNKNOWN,)  # a note is no refusal
    assert _only_missing((rs.EMPLOYER_UNKNOWN, rs.INSURED_OUTSIDE_NANTONG)) == ()  # a finding beside it decides
    assert _only_missing(()) == ()
