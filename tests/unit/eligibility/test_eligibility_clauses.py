"""Scenario tables, one per certificate clause: eligible, ineligible, boundaries, shortage; then the
checks found never firing on real data (each test names the finding it guards)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from elig_builders import (
    ABILITY,
    EMPLOYER,
    LATHE,
    PARAMS,
    D,
    cert,
    cert_id,
    codes,
    course,
    one,
    replace,
    unemployed,
    worker,
)

from services.eligibility import facts as f
from services.eligibility.domain import PriorApproval, PriorApprovals
from services.eligibility.facts import DegreeRecord
from services.eligibility.params import PARAMETERS_FILE, load_parameters_text
from services.eligibility.rules import add_months

HIRED = dict(hire_date=D(2020, 1, 15), contract_months=12, ui_contribution_months=0)
PRE_JOB = dict(training_kind=f.PRE_JOB, training_start=D(2020, 3, 1))
TRAINED = dict(training_class=course(), completed_hours=Decimal(80))  # 五.2: the class's 80 hours done
DEGREE_NO = "1032012020000123"  # 学历证书编号
DEGREE = dict(kind=f.DEGREE, level=None, occupation_code=None, number=DEGREE_NO)
FURTHER = dict(degree_records={DEGREE_NO: DegreeRecord("adult", "associate")})
LOW_VOLTAGE = dict(kind=f.SPECIAL_OPERATIONS, level=None, occupation_code=None, operation_category="1",
                   operation_item="1.2", number="TZ-3206-0000000001")
NO_JOB = dict(employed=False, employer_id=None, hire_date=None, contract_months=None, ui_contribution_months=0)

# (name, certificate fields, person fields, clause, outcome, amount_fen, a reason code or None)
SCENARIOS: list[tuple[str, dict[str, Any], dict[str, Any], str, str, int, str | None]] = [
    # 四.2: 50% of Std (1,400 yuan for level 4), shortage 100%
    ("四.2 eligible", PRE_JOB, HIRED, "四.2", "approved", 70000, None),
    ("四.2 shortage pays 100%", {**PRE_JOB, "occupation_code": LATHE}, HIRED, "四.2",
     "approved", 140000, "shortage_occupation"),
    ("四.2 training on the last day within 12 months",
     {**PRE_JOB, "training_start": D(2021, 1, 14), "issue_date": D(2021, 3, 1)}, HIRED,
     "四.2", "approved", 70000, None),
    ("四.2 training exactly 12 months after hiring",
     {**PRE_JOB, "training_start": D(2021, 1, 15), "issue_date": D(2021, 3, 1)}, HIRED,
     "四.2", "rejected", 0, "training_not_within_12_months_of_hire"),
    ("四.2 training before hiring", {**PRE_JOB, "training_start": D(2020, 1, 14)}, HIRED,
     "四.2", "rejected", 0, "training_not_within_12_months_of_hire"),
    ("四.2 contract of 11 months", PRE_JOB, {**HIRED, "contract_months": 11}, "四.2",
     "rejected", 0, "contract_under_one_year"),
    ("四.2 open-ended contract", PRE_JOB, {**HIRED, "contract_months": None, "open_ended_contract": True},
     "四.2", "approved", 70000, None),
    ("四.2 out of Catalog", {**PRE_JOB, "occupation_code": "6-99-99-99"}, HIRED, "四.2",
     "rejected", 0, "not_in_catalog"),
    ("四.2 the class's start counts when the certificate gives none",
     {"training_class": course("pre_job", start_date=D(2020, 3, 1))}, HIRED, "四.2", "approved", 70000, None),
    # 四.3: on-the-job and job-transfer training (the evidence: training kind or the class's kind)
    ("四.3 on-the-job", {"training_kind": f.ON_THE_JOB}, {"ui_contribution_months": 0}, "四.3", "approved",
     70000, None),
    ("四.3 job transfer, shortage 100%", {"training_kind": f.JOB_TRANSFER, "occupation_code": LATHE},
     {}, "四.3", "approved", 140000, "shortage_occupation"),
    ("四.3 a class of kind on_the_job is evidence too", {"training_class": course("on_the_job")},
     {"ui_contribution_months": 0}, "四.3", "approved", 70000, None),
    ("四.3 out-of-Catalog trade goes to a reviewer at cost",
     {"training_kind": f.ENTERPRISE_NON_CATALOG, "occupation_code": "6-99-99-99"}, {}, "四.3",
     "needs_review", 0, "out_of_catalog_at_cost"),
    ("四.3 special-ability certificate of an employee trained on the job",
     {"kind": f.SPECIAL_ABILITY, "occupation_code": ABILITY, "level": None, "training_kind": f.ON_THE_JOB},
     {}, "四.3", "approved", 40000, None),
    ("四.3 not for someone without a job", {"training_kind": f.ON_THE_JOB}, NO_JOB, "四.3", "rejected", 0,
     "not_employed"),
    # 四.4: ≥ 12 months UI, levels 5-3, from 2019-01-01, applied within 12 months; shortage 50% × 1.3
    ("四.4 twelve months of UI contributions", {}, {"ui_contribution_months": 12}, "四.4",
     "approved", 70000, None),
    ("四.4 eleven months of UI contributions", {}, {"ui_contribution_months": 11}, "四.4",
     "rejected", 0, "ui_contributions_under_minimum"),
    ("四.4 shortage is 65% of Std", {"occupation_code": LATHE}, {}, "四.4", "approved", 91000,
     "shortage_occupation"),
    ("四.4 not shortage in 2019 for the same occupation",
     {"occupation_code": LATHE, "issue_date": D(2019, 6, 1), "received_on": D(2019, 7, 1)}, {}, "四.4",
     "approved", 70000, None),
    ("四.4 on 2019-01-01", {"issue_date": D(2019, 1, 1), "received_on": D(2019, 2, 1)}, {}, "四.4", "approved",
     70000, None),
    ("四.4 on 2018-12-31 cites the clause's start and the plan period, not missing parameters",
     {"issue_date": D(2018, 12, 31), "received_on": D(2019, 1, 5)}, {}, "四.4", "rejected", 0,
     "before_start_date"),
    ("四.4 received on the last day of the window", {"received_on": D(2021, 5, 31)}, {}, "四.4", "approved",
     70000, None),
    ("四.4 received twelve months after the certificate", {"received_on": D(2021, 6, 1)}, {}, "四.4",
     "rejected", 0, "applied_after_window"),
    ("四.4 receipt day unknown goes to a reviewer", {"received_on": None}, {}, "四.4", "needs_review", 70000,
     "receipt_day_unknown"),
    ("四.4 level 5", {"level": 5}, {}, "四.4", "approved", 57500, None),
    ("四.4 level 3 vocational qualification", {"level": 3, "kind": f.VOCATIONAL_QUALIFICATION,
                                               "number": "3206202030000001"}, {}, "四.4", "approved", 88000, None),
    ("四.4 not for someone without a job", {}, {**NO_JOB, "ui_contribution_months": 24}, "五.2", "rejected", 0,
     "training_class_unknown"),
    # 四.5a: technicians
    ("四.5a technician", {"level": 2}, {}, "四.5a", "approved", 300000, None),
    ("四.5a senior technician", {"level": 1}, {}, "四.5a", "approved", 400000, None),
    # 四.5b: degree by further education from 2019-07-01 after 12 months of pension contributions, once
    ("四.5b on 2019-07-01", {**DEGREE, "issue_date": D(2019, 7, 1)},
     {**FURTHER, "pension_contribution_months": 12}, "四.5b", "approved", 100000, None),
    ("四.5b on 2019-06-30", {**DEGREE, "issue_date": D(2019, 6, 30)}, FURTHER, "四.5b", "rejected", 0,
     "before_start_date"),
    ("四.5b eleven months of pension contributions", DEGREE, {**FURTHER, "pension_contribution_months": 11},
     "四.5b", "rejected", 0, "pension_contributions_under_minimum"),
    ("四.5b employer outside Nantong", DEGREE, {**FURTHER, "employer_in_nantong": False}, "四.5b", "rejected", 0,
     "not_employed_and_insured_in_nantong"),
    ("四.5b full-time study is not further education", DEGREE,
     {"degree_records": {DEGREE_NO: DegreeRecord("full_time", "bachelor")}}, "四.5b", "rejected", 0,
     "not_further_education"),
    ("四.5b no degree record from the education feeder", DEGREE, {}, "四.5b", "rejected", 0,
     "degree_record_missing"),
    ("四.5b below 大专", DEGREE, {"degree_records": {DEGREE_NO: DegreeRecord("adult", "secondary")}}, "四.5b",
     "rejected", 0, "degree_below_associate"),
    # 五.2: registered unemployed who completed the class's required hours; 十三.3 widens the scope
    ("五.2 registered unemployed", TRAINED, {"employed": False}, "五.2", "approved", 140000, None),
    ("五.2 technician certificate of an unemployed person", {**TRAINED, "level": 2}, {"employed": False},
     "五.2", "approved", 350000, None),
    ("五.2 / 十三.3 neither employed nor registered unemployed is in scope", TRAINED, NO_JOB, "五.2",
     "approved", 140000, "in_scope_by_13_3"),
    ("五.2 hours not completed", {**TRAINED, "completed_hours": Decimal("79.5")}, {"employed": False}, "五.2",
     "rejected", 0, "required_hours_not_completed"),
    ("五.2 no completion hours is not a pass", {**TRAINED, "completed_hours": None}, {"employed": False}, "五.2",
     "rejected", 0, "completed_hours_unknown"),
    ("五.2 no class to check the hours against", {}, {"employed": False}, "五.2", "rejected", 0,
     "training_class_unknown"),
    ("五.2 special-ability certificate obtained in Nantong",
     {**TRAINED, "kind": f.SPECIAL_ABILITY, "occupation_code": ABILITY, "level": None},
     {"employed": False}, "五.2", "approved", 80000, None),
    ("五.2 / 十三.2 special-ability certificate obtained elsewhere",
     {**TRAINED, "kind": f.SPECIAL_ABILITY, "occupation_code": ABILITY, "level": None, "issued_in_nantong": False},
     {"employed": False}, "五.2", "rejected", 0, "not_obtained_in_nantong"),
    ("五.2 / 十三.2 training certificate obtained elsewhere",
     {**TRAINED, "kind": f.TRAINING_COMPLETION, "issued_in_nantong": False}, {"employed": False}, "五.2",
     "rejected", 0, "not_obtained_in_nantong"),
    # 五.4: entrepreneurship, by the registry's project type
    ("五.4 SYB of a final-year student", {"kind": f.ENTREPRENEURSHIP, "project_type": "syb", "level": None,
                                          "occupation_code": None},
     {**NO_JOB, "registered_unemployed": False, "student_final_two_years": True}, "五.4", "approved", 100000,
     None),
    ("五.4 entrepreneur upgrade of an unemployed person",
     {"kind": f.ENTREPRENEURSHIP, "project_type": "entrepreneur_upgrade", "level": None, "occupation_code": None},
     {"employed": False, "registered_unemployed": True}, "五.4", "approved", 120000, None),
    ("五.4 employed non-student", {"kind": f.ENTREPRENEURSHIP, "project_type": "syb", "level": None,
                                   "occupation_code": None},
     {}, "五.4", "rejected", 0, "not_student_or_unemployed"),
    ("五.4 no project named", {"kind": f.ENTREPRENEURSHIP, "level": None, "occupation_code": None},
     {"employed": False, "student_final_two_years": True}, "五.4", "rejected", 0, "training_kind_not_covered"),
    # 六: safety certificates
    ("六 special operations in Nantong", LOW_VOLTAGE, {}, "六", "approved", 30000, None),
    ("六 / 十三.2 special operations obtained elsewhere", {**LOW_VOLTAGE, "issued_in_nantong": False}, {}, "六",
     "rejected", 0, "not_obtained_in_nantong"),
    ("六 special equipment obtained elsewhere still qualifies",
     {**LOW_VOLTAGE, "kind": f.SPECIAL_EQUIPMENT, "operation_category": None, "operation_item": "N1",
      "issued_in_nantong": False}, {}, "六", "approved", 30000, None),
    ("六 safety management", {**LOW_VOLTAGE, "kind": f.SAFETY_MANAGEMENT, "operation_category": None,
                              "operation_item": "B"}, {}, "六", "approved", 30000, None),
    ("六 a certificate naming no operation item cannot be checked for repeats",
     {**LOW_VOLTAGE, "operation_category": None, "operation_item": None}, {}, "六", "needs_review", 30000,
     "repeat_identity_unknown"),
    # 十三.3: entitled to, or drawing, a monthly pension: out of scope, whatever the clause
    ("十三.3 pension drawer", {}, {"drawing_monthly_pension": True}, "四.4", "rejected", 0,
     "draws_monthly_pension"),
    ("十三.3 entitled to a pension but not drawing it", {}, {"pension_entitled": True}, "四.4", "rejected", 0,
     "entitled_to_monthly_pension"),
    ("十三.3 entitled, with a safety certificate", LOW_VOLTAGE, {"pension_entitled": True}, "六", "rejected", 0,
     "entitled_to_monthly_pension"),
    ("十三.3 entitled and not working: not in 五.2's scope either", TRAINED, {**NO_JOB, "pension_entitled": True},
     "五.2", "rejected", 0, "entitled_to_monthly_pension"),
    # the plan period (2019-01-01 … 2021-12-31 in the shipped parameters)
    ("a certificate of 2022 gets nothing under this plan", {"issue_date": D(2022, 1, 1), "received_on": D(2022, 2, 1)},
     {}, "四.4", "rejected", 0, "outside_plan_period"),
    ("a certificate of 2030 gets nothing under this plan", {**LOW_VOLTAGE, "issue_date": D(2030, 5, 1)}, {}, "六",
     "rejected", 0, "outside_plan_period"),
    ("the plan's last day is in", {"issue_date": D(2021, 12, 31), "received_on": D(2022, 1, 10)}, {}, "四.4",
     "approved", 70000, None),
]


@pytest.mark.parametrize(
    "name,cert_kw,person_kw,clause,outcome,amount,reason", SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_certificate_scenario_is_decided_as_the_table_says(
    name: str, cert_kw: dict[str, Any], person_kw: dict[str, Any], clause: str, outcome: str,
    amount: int, reason: str | None,
) -> None:
    d = one(cert(**cert_kw), worker(**person_kw))
    assert (d.clause, d.outcome, d.amount_fen) == (clause, outcome, amount), d.explanation_en
    if reason is not None:
        assert reason in codes(d), d.explanation_en
    assert clause in d.clauses_cited and "十三.3" in d.clauses_cited


# --- found: the provincial exclusion compared an internal id with the fact's certificate number

def test_provincial_subsidy_for_this_certificate_number_excludes_4_4_and_4_5a() -> None:
    """四.4 / 四.5a: the provincial system reports the certificate number, not our internal id."""
    for level, clause in ((4, "四.4"), (2, "四.5a")):
        c = cert(level=level, number=f"Y00000000000001{level}000001")
        d = one(c, worker(provincial_subsidy_certificates=frozenset({c.number})))
        assert (d.clause, d.outcome) == (clause, "rejected")
        assert "provincial_high_skill_subsidy_received" in codes(d)
        other = one(c, worker(provincial_subsidy_certificates=frozenset({c.certificate_id})))
        assert other.outcome == "approved"  # an id is not a number: a subsidy for nothing we know


def test_provincial_subsidy_for_another_certificate_does_not_block() -> None:
    d = one(cert(), worker(provincial_subsidy_certificates=frozenset({"Y000000000000014999999"})))
    assert d.outcome == "approved"


# --- found: the clause was chosen by training_kind; a failed 四.2 never fell back

def test_a_failed_pre_job_claim_falls_back_to_the_clause_the_worker_qualifies_for() -> None:
    late = {**PRE_JOB, "training_start": D(2021, 2, 1), "issue_date": D(2021, 3, 1), "received_on": D(2021, 4, 1)}
    d = one(cert(**late), worker(hire_date=D(2020, 1, 15), contract_months=12))
    assert (d.clause, d.outcome, d.amount_fen) == ("四.4", "approved", 70000)
    (pre_job,) = [c for c in d.considered if c.clause == "四.2"]
    assert pre_job.outcome == "rejected"
    assert "training_not_within_12_months_of_hire" in {r.code for r in pre_job.reasons}
    assert "Also considered 四.2" in d.explanation_en and "另审查第四.2项" in d.explanation_zh


def test_the_most_favourable_clause_is_applied_whatever_the_training_kind_says() -> None:
    """An upgrading course in a shortage trade: 四.3's 100% beats 四.4's 65% when the class is
    on-the-job training; the training kind on the certificate only breaks ties."""
    c = cert(occupation_code=LATHE, training_kind="upgrading", training_class=course("on_the_job"))
    d = one(c, worker())
    assert (d.clause, d.amount_fen) == ("四.3", 140000)
    assert {(x.clause, x.outcome, x.amount_fen) for x in d.considered} >= {("四.4", "approved", 91000)}


def test_one_certificate_gets_one_training_subsidy() -> None:
    d = one(cert(**PRE_JOB), worker(hire_date=D(2020, 1, 15), contract_months=12))
    assert d.clause == "四.2" and [c.outcome for c in d.considered if c.clause == "四.4"] == ["approved"]


# --- found: no evidence and no bound for 四.3 at actual cost (review_rules has the amount)

def test_out_of_catalog_at_cost_asks_a_reviewer_and_records_the_cap_parameter() -> None:
    d = one(cert(training_kind=f.ENTERPRISE_NON_CATALOG, occupation_code="6-99-99-99"), worker())
    assert d.outcome == "needs_review" and ("四.3.at_cost_cap_fen", "v1-example") in d.parameter_versions


# --- found: certificates without an occupation code shared one repeat key

def test_a_second_special_operations_certificate_for_another_item_is_a_new_subsidy() -> None:
    first = one(cert(**LOW_VOLTAGE), worker())
    welding = one(cert(**{**LOW_VOLTAGE, "certificate_id": cert_id("c2"), "operation_category": "2",
                          "operation_item": "2.1"}), worker(), PriorApprovals().add(first))
    again = one(cert(**{**LOW_VOLTAGE, "certificate_id": cert_id("c3")}), worker(), PriorApprovals().add(first))
    assert first.outcome == welding.outcome == "approved"
    assert again.outcome == "rejected" and "same_occupation_and_level" in codes(again)
    assert first.occupation_key == "special_operations:1:1.2"


def test_entrepreneurship_projects_are_told_apart_and_a_repeat_of_one_is_refused() -> None:
    student = worker(**{**NO_JOB, "student_final_two_years": True})
    syb = one(cert(kind=f.ENTREPRENEURSHIP, project_type="syb", level=None, occupation_code=None), student)
    online = one(cert(kind=f.ENTREPRENEURSHIP, project_type="online_entrepreneurship", level=None,
                      occupation_code=None, certificate_id=cert_id("c2")), student, PriorApprovals().add(syb))
    again = one(cert(kind=f.ENTREPRENEURSHIP, project_type="syb", level=None, occupation_code=None,
                     certificate_id=cert_id("c3")), student, PriorApprovals().add(syb))
    assert (syb.outcome, online.outcome, again.outcome) == ("approved", "approved", "rejected")


def test_a_special_equipment_certificate_does_not_repeat_a_special_operations_one() -> None:
    first = one(cert(**LOW_VOLTAGE), worker())
    forklift = one(cert(**{**LOW_VOLTAGE, "kind": f.SPECIAL_EQUIPMENT, "certificate_id": cert_id("c2"),
                           "operation_category": None, "operation_item": "N1"}), worker(), PriorApprovals().add(first))
    assert forklift.outcome == "approved" and forklift.occupation_key == "special_equipment:-:N1"


# --- found: certificates outside the plan period

def test_a_later_parameter_file_can_extend_the_plan_period() -> None:
    text = PARAMETERS_FILE.read_text(encoding="utf-8").replace("valid_to: 2021-12-31", "valid_to: 2022-12-31")
    extended = load_parameters_text(text.replace("value: 2021-12-31, valid_from: 2019-01-01",
                                                 "value: 2022-12-31, valid_from: 2019-01-01"))
    c = cert(issue_date=D(2022, 3, 1), received_on=D(2022, 4, 1))
    assert one(c, worker()).outcome == "rejected"
    assert one(c, worker(), params=extended).outcome == "approved"


def test_a_refusal_before_the_plan_cites_the_period_and_records_its_version() -> None:
    d = one(cert(issue_date=D(2018, 6, 1), received_on=D(2018, 7, 1)), worker())
    assert "outside_plan_period" in codes(d) and "no_parameters_in_force" not in codes(d)
    assert ("plan.period_from", "v1") in d.parameter_versions


# --- other rules

def test_pre_job_subsidy_is_excluded_when_work_training_was_paid_for_the_same_hire() -> None:
    prior = PriorApprovals.from_approvals(
        [PriorApproval("五.3", 2020, hire_key=f"{EMPLOYER}@2020-01-15", months=Fraction(2))])
    d = one(cert(**PRE_JOB), worker(**HIRED), prior)
    assert d.outcome == "rejected" and "excluded_by_work_training" in codes(d)
    assert "五.3" in d.clauses_cited


def test_pre_job_subsidy_for_another_hire_is_not_excluded_by_work_training() -> None:
    prior = PriorApprovals.from_approvals(
        [PriorApproval("五.3", 2019, hire_key=f"{EMPLOYER}@2019-01-01", months=Fraction(2))])
    assert one(cert(**PRE_JOB), worker(**HIRED), prior).outcome == "approved"


def test_degree_reward_is_paid_once_per_person() -> None:
    degree = cert(**DEGREE)
    first = one(degree, worker(**FURTHER))
    second = one(replace(degree, certificate_id=cert_id("c2")), worker(**FURTHER), PriorApprovals().add(first))
    assert first.outcome == "approved" and second.outcome == "rejected"
    assert "degree_reward_already_received" in codes(second)


def test_uplift_date_is_a_parameter_not_a_literal() -> None:
    later = PARAMS.with_value("四.4.from_date", D(2019, 6, 1), D(2019, 1, 1), "test")
    d = one(cert(issue_date=D(2019, 5, 31), received_on=D(2019, 6, 5)), worker(), params=later)
    assert d.outcome == "rejected" and "before_start_date" in codes(d)
    assert ("四.4.from_date", "test") in d.parameter_versions


def test_shortage_uplift_change_changes_the_amount_and_the_version_recorded() -> None:
    raised = PARAMS.with_value("四.4.shortage_uplift", Fraction("1.5"), D(2020, 1, 1), "v2")
    d = one(cert(occupation_code=LATHE), worker(), params=raised)
    assert d.amount_fen == 105000  # 1,400 × 50% × 1.5
    assert ("四.4.shortage_uplift", "v2") in d.parameter_versions


def test_the_twelve_month_window_clamps_to_the_end_of_a_short_month() -> None:
    assert add_months(D(2019, 1, 31), 1) == D(2019, 2, 28)
    assert add_months(D(2020, 2, 29), 12) == D(2021, 2, 28)
    assert add_months(D(2020, 3, 15), 12) == D(2021, 3, 15)


def test_an_unemployed_persons_certificate_is_shown_under_unemployed_training() -> None:
    assert one(cert(), unemployed()).clause == "五.2"
