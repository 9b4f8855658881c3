"""Scenario tables, one per certificate clause: eligible, ineligible, boundaries, shortage."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from elig_builders import ABILITY, LATHE, PARAMS, D, cert, codes, one, unemployed, worker

from services.eligibility import facts as f
from services.eligibility.domain import PriorApproval, PriorApprovals
from services.eligibility.rules import add_months

HIRED = dict(hire_date=D(2020, 1, 15), contract_months=12)
PRE_JOB = dict(training_kind=f.PRE_JOB, training_start=D(2020, 3, 1))

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
    ("四.2 open-ended contract", PRE_JOB, {**HIRED, "contract_months": None,
                                           "open_ended_contract": True},
     "四.2", "approved", 70000, None),
    ("四.2 out of Catalog", {**PRE_JOB, "occupation_code": "9-99-99-99"}, HIRED, "四.2",
     "rejected", 0, "not_in_catalog"),
    # 四.3: on-the-job and job-transfer training
    ("四.3 on-the-job", {"training_kind": f.ON_THE_JOB}, {}, "四.3", "approved", 70000, None),
    ("四.3 job transfer, shortage 100%", {"training_kind": f.JOB_TRANSFER,
                                          "occupation_code": LATHE},
     {}, "四.3", "approved", 140000, "shortage_occupation"),
    ("四.3 out-of-Catalog trade goes to a reviewer",
     {"training_kind": f.ENTERPRISE_NON_CATALOG, "occupation_code": "9-99-99-99"}, {}, "四.3",
     "needs_review", 0, "out_of_catalog_at_cost"),
    ("四.3 special-ability certificate of an employee",
     {"kind": f.SPECIAL_ABILITY, "occupation_code": ABILITY, "level": None}, {}, "四.3",
     "approved", 40000, None),
    # 四.4: ≥ 12 months UI, levels 5-3, from 2019-01-01; shortage 50% × 1.3
    ("四.4 twelve months of UI contributions", {}, {"ui_contribution_months": 12}, "四.4",
     "approved", 70000, None),
    ("四.4 eleven months of UI contributions", {}, {"ui_contribution_months": 11}, "四.4",
     "rejected", 0, "ui_contributions_under_minimum"),
    ("四.4 shortage is 65% of Std", {"occupation_code": LATHE}, {}, "四.4", "approved", 91000,
     "shortage_occupation"),
    ("四.4 not shortage in 2019 for the same occupation",
     {"occupation_code": LATHE, "issue_date": D(2019, 6, 1)}, {}, "四.4", "approved", 70000,
     None),
    ("四.4 on 2019-01-01", {"issue_date": D(2019, 1, 1)}, {}, "四.4", "approved", 70000, None),
    ("四.4 on 2018-12-31: no parameters in force", {"issue_date": D(2018, 12, 31)}, {}, "四.4",
     "rejected", 0, "no_parameters_in_force"),
    ("四.4 level 5", {"level": 5}, {}, "四.4", "approved", 57500, None),
    ("四.4 level 3 vocational qualification", {"level": 3, "kind": f.VOCATIONAL_QUALIFICATION},
     {}, "四.4", "approved", 88000, None),
    ("四.4 excludes the provincial subsidy for the same certificate", {},
     {"provincial_subsidy_certificates": frozenset({"c1"})}, "四.4", "rejected", 0,
     "provincial_high_skill_subsidy_received"),
    ("四.4 provincial subsidy for another certificate does not block", {},
     {"provincial_subsidy_certificates": frozenset({"c9"})}, "四.4", "approved", 70000,
     "provincial_subsidy_exclusive"),
    # 四.5a: technicians
    ("四.5a technician", {"level": 2}, {}, "四.5a", "approved", 300000, None),
    ("四.5a senior technician", {"level": 1}, {}, "四.5a", "approved", 400000, None),
    ("四.5a excludes the provincial subsidy", {"level": 2},
     {"provincial_subsidy_certificates": frozenset({"c1"})}, "四.5a", "rejected", 0,
     "provincial_high_skill_subsidy_received"),
    # 四.5b: degree from 2019-07-01 after 12 months of pension contributions, once
    ("四.5b on 2019-07-01", {"kind": f.DEGREE, "level": None, "occupation_code": None,
                            "issue_date": D(2019, 7, 1)}, {"pension_contribution_months": 12},
     "四.5b", "approved", 100000, None),
    ("四.5b on 2019-06-30", {"kind": f.DEGREE, "level": None, "occupation_code": None,
                            "issue_date": D(2019, 6, 30)}, {}, "四.5b", "rejected", 0,
     "before_start_date"),
    ("四.5b eleven months of pension contributions",
     {"kind": f.DEGREE, "level": None, "occupation_code": None},
     {"pension_contribution_months": 11}, "四.5b", "rejected", 0,
     "pension_contributions_under_minimum"),
    ("四.5b employer outside Nantong", {"kind": f.DEGREE, "level": None, "occupation_code": None},
     {"employer_in_nantong": False}, "四.5b", "rejected", 0,
     "not_employed_and_insured_in_nantong"),
    ("四.5b degree not by further education",
     {"kind": f.DEGREE, "level": None, "occupation_code": None, "via_further_education": False},
     {}, "四.5b", "rejected", 0, "not_further_education"),
    # 五.2: registered unemployed
    ("五.2 registered unemployed", {}, {"employed": False, "registered_unemployed": True},
     "五.2", "approved", 140000, None),
    ("五.2 technician certificate of an unemployed person", {"level": 2},
     {"employed": False, "registered_unemployed": True}, "五.2", "approved", 350000, None),
    ("五.2 neither employed nor registered unemployed", {}, {"employed": False}, "五.2",
     "rejected", 0, "not_registered_unemployed"),
    ("五.2 hours not completed", {"required_hours_completed": False},
     {"employed": False, "registered_unemployed": True}, "五.2", "rejected", 0,
     "required_hours_not_completed"),
    ("五.2 special-ability certificate obtained in Nantong",
     {"kind": f.SPECIAL_ABILITY, "occupation_code": ABILITY, "level": None},
     {"employed": False, "registered_unemployed": True}, "五.2", "approved", 80000, None),
    ("五.2 / 十三.2 special-ability certificate obtained elsewhere",
     {"kind": f.SPECIAL_ABILITY, "occupation_code": ABILITY, "level": None,
      "issued_in_nantong": False}, {"employed": False, "registered_unemployed": True}, "五.2",
     "rejected", 0, "not_obtained_in_nantong"),
    ("五.2 / 十三.2 training certificate obtained elsewhere",
     {"kind": f.TRAINING_COMPLETION, "issued_in_nantong": False},
     {"employed": False, "registered_unemployed": True}, "五.2", "rejected", 0,
     "not_obtained_in_nantong"),
    # 五.4: entrepreneurship
    ("五.4 SYB of a final-year student", {"kind": f.ENTREPRENEURSHIP, "training_kind": "syb",
                                          "level": None},
     {"employed": False, "student_final_two_years": True}, "五.4", "approved", 100000, None),
    ("五.4 entrepreneur upgrade of an unemployed person",
     {"kind": f.ENTREPRENEURSHIP, "training_kind": "entrepreneur_upgrade", "level": None},
     {"employed": False, "registered_unemployed": True}, "五.4", "approved", 120000, None),
    ("五.4 employed non-student", {"kind": f.ENTREPRENEURSHIP, "training_kind": "syb",
                                   "level": None},
     {}, "五.4", "rejected", 0, "not_student_or_unemployed"),
    ("五.4 unknown training", {"kind": f.ENTREPRENEURSHIP, "training_kind": "chess",
                               "level": None},
     {"employed": False, "student_final_two_years": True}, "五.4", "rejected", 0,
     "training_kind_not_covered"),
    # 六: safety certificates
    ("六 special operations in Nantong", {"kind": f.SPECIAL_OPERATIONS, "level": None}, {},
     "六", "approved", 30000, None),
    ("六 / 十三.2 special operations obtained elsewhere",
     {"kind": f.SPECIAL_OPERATIONS, "level": None, "issued_in_nantong": False}, {}, "六",
     "rejected", 0, "not_obtained_in_nantong"),
    ("六 special equipment obtained elsewhere still qualifies",
     {"kind": f.SPECIAL_EQUIPMENT, "level": None, "issued_in_nantong": False}, {}, "六",
     "approved", 30000, None),
    ("六 safety management", {"kind": f.SAFETY_MANAGEMENT, "level": None}, {}, "六",
     "approved", 30000, None),
    # 十三.3: pension drawers are out of scope, whatever the clause
    ("十三.3 pension drawer", {}, {"drawing_monthly_pension": True}, "四.4", "rejected", 0,
     "draws_monthly_pension"),
    ("十三.3 pension drawer with a safety certificate", {"kind": f.SPECIAL_EQUIPMENT,
                                                        "level": None},
     {"drawing_monthly_pension": True}, "六", "rejected", 0, "draws_monthly_pension"),
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
        assert reason in codes(d)
    assert clause in d.clauses_cited and "十三.3" in d.clauses_cited


def test_pre_job_subsidy_is_excluded_when_work_training_was_paid_for_the_same_hire() -> None:
    prior = PriorApprovals.from_approvals(
        [PriorApproval("五.3", 2020, hire_key="e1@2020-01-15", months=Fraction(2))]
    )
    d = one(cert(**PRE_JOB), worker(**HIRED), prior)
    assert d.outcome == "rejected" and "excluded_by_work_training" in codes(d)
    assert "五.3" in d.clauses_cited


def test_pre_job_subsidy_for_another_hire_is_not_excluded_by_work_training() -> None:
    prior = PriorApprovals.from_approvals(
        [PriorApproval("五.3", 2019, hire_key="e0@2019-01-01", months=Fraction(2))]
    )
    assert one(cert(**PRE_JOB), worker(**HIRED), prior).outcome == "approved"


def test_degree_reward_is_paid_once_per_person() -> None:
    degree = cert(kind=f.DEGREE, level=None, occupation_code=None)
    first = one(degree, worker())
    second = one(replace_id(degree, "c2"), worker(), PriorApprovals().add(first))
    assert first.outcome == "approved" and second.outcome == "rejected"
    assert "degree_reward_already_received" in codes(second)


def replace_id(c: f.CertificateFacts, cid: str) -> f.CertificateFacts:
    from dataclasses import replace

    return replace(c, certificate_id=cid)


def test_uplift_date_is_a_parameter_not_a_literal() -> None:
    later = PARAMS.with_value("四.4.from_date", D(2019, 6, 1), D(2019, 1, 1), "test")
    d = one(cert(issue_date=D(2019, 5, 31)), worker(), params=later)
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


def test_unemployed_person_builder_is_routed_to_unemployed_training() -> None:
    assert one(cert(), unemployed()).clause == "五.2"
