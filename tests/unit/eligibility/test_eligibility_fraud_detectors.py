"""The fraud detectors and the credit rating (services/eligibility/fraud.py): pure, no I/O."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from services.eligibility import fraud
from services.eligibility.fraud_scan import credit_rules, thresholds
from services.eligibility.params import default_parameters

INST_A, INST_B = "52320613MJ0000003P", "91320600MA1N000027"
D = dt.date.fromisoformat
LIMITS = thresholds(default_parameters().at(D("2020-06-01")))


def klass(cid: str, start: str, end: str, inst: str = INST_A) -> fraud.TrainingClass:
    return fraud.TrainingClass(cid, inst, D(start), D(end))


def cert(cid: str, person: str, day: str, inst: str = INST_A, class_id: str | None = None) -> fraud.Certificate:
    return fraud.Certificate(cid, person, inst, D(day), class_id)


def test_the_shipped_thresholds_are_dated_parameters() -> None:
    assert fraud.Thresholds(Fraction(3), 3, 20, 3) == LIMITS


def test_a_certificate_issued_before_its_class_ended_is_a_signal_and_one_on_the_last_day_is_not() -> None:
    classes = {"k1": klass("k1", "2020-03-01", "2020-04-30")}
    got = fraud.issued_before_class_end([cert("c1", "p1", "2020-04-29", class_id="k1"),
                                         cert("c2", "p2", "2020-04-30", class_id="k1")], classes)
    assert [s.subject for s in got] == ["issued_before_class_end:c1"]
    assert got[0].evidence["class_end_date"] == "2020-04-30" and got[0].institution_code == INST_A


def test_one_person_in_two_overlapping_classes_is_one_signal_and_back_to_back_classes_are_none() -> None:
    classes = {"k1": klass("k1", "2020-03-01", "2020-04-30"), "k2": klass("k2", "2020-04-30", "2020-06-30", INST_B),
               "k3": klass("k3", "2020-07-01", "2020-08-31")}
    got = fraud.overlapping_classes([("p1", "k1"), ("p1", "k2"), ("p1", "k3"), ("p2", "k1"), ("p2", "k3")], classes)
    assert [s.subject for s in got] == ["overlapping_classes:p1:k1:k2"]
    assert got[0].evidence["overlap_from"] == got[0].evidence["overlap_to"] == "2020-04-30"


def test_one_person_certified_by_two_institutions_on_one_day_is_a_signal() -> None:
    got = fraud.same_day_two_institutions([cert("c1", "p1", "2020-05-20"), cert("c2", "p1", "2020-05-20", INST_B),
                                           cert("c3", "p2", "2020-05-20"), cert("c4", "p2", "2020-05-20")])
    assert [s.subject for s in got] == ["same_day_two_institutions:p1:2020-05-20"]
    assert got[0].evidence["institutions"] == sorted([INST_A, INST_B])


def test_a_month_far_above_the_institutions_own_history_is_a_signal() -> None:
    volumes = {(INST_A, D("2020-02-01")): 10, (INST_A, D("2020-03-01")): 12, (INST_A, D("2020-04-01")): 8,
               (INST_A, D("2020-05-01")): 31, (INST_B, D("2020-05-01")): 500}
    got = fraud.volume_spikes(volumes, [(INST_A, D("2020-05-01")), (INST_B, D("2020-05-01"))], LIMITS)
    # 31 > 3 x 10; INST_B has no history of its own to compare with: not judged.
    assert [s.subject for s in got] == [f"volume_spike:{INST_A}:2020-05"]
    assert got[0].evidence["history"] == {"2020-02": 10, "2020-03": 12, "2020-04": 8}


def test_a_month_at_the_factor_or_below_the_minimum_count_is_not_a_signal() -> None:
    at_factor = {(INST_A, D(f"2020-0{m}-01")): 10 for m in (2, 3, 4)} | {(INST_A, D("2020-05-01")): 30}
    assert fraud.volume_spikes(at_factor, [(INST_A, D("2020-05-01"))], LIMITS) == []
    small = {(INST_A, D(f"2020-0{m}-01")): 1 for m in (2, 3, 4)} | {(INST_A, D("2020-05-01")): 19}
    assert fraud.volume_spikes(small, [(INST_A, D("2020-05-01"))], LIMITS) == []


def test_history_months_cross_the_year_boundary() -> None:
    assert fraud.months_before(D("2020-02-01"), 3) == [D("2019-11-01"), D("2019-12-01"), D("2020-01-01")]


def test_three_trainees_on_one_phone_digest_is_a_signal_and_two_are_not() -> None:
    same, other = "a" * 64, "b" * 64
    contacts = [fraud.Contact(f"p{i}", INST_A, "phone", same) for i in range(3)]
    contacts += [fraud.Contact(f"p{i}", INST_A, "bank_account", other) for i in range(2)]
    got = fraud.shared_contacts(contacts, LIMITS)
    assert [s.subject for s in got] == [f"shared_contact:phone:{same}"]
    assert got[0].evidence["trainees"] == 3 and got[0].evidence["digest_prefix"] == same[:12]


def test_the_credit_rating_falls_with_signals_and_ignores_dismissed_ones() -> None:
    rules = credit_rules(default_parameters().at(D("2026-12-01")))
    assert fraud.credit_rating(0, 0, rules) == ("A", 100)
    assert fraud.credit_rating(0, 2, rules) == ("A", 90)
    assert fraud.credit_rating(1, 1, rules) == ("B", 75)
    assert fraud.credit_rating(2, 0, rules) == ("C", 60)
    assert fraud.credit_rating(6, 0, rules) == ("D", 0)
