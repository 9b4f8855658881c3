"""A certificate that arrives before any of its holder's status facts waits as `pending` for
waiting.facts_days (30) after the registry received it, then is decided on what is known."""

from __future__ import annotations

import uuid

from elig_builders import CATALOG, PARAMS, D, cert, cert_id, pk

from services.eligibility import facts as f
from services.eligibility.person import CERTIFICATE, PersonState, Trigger, decide_person
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
