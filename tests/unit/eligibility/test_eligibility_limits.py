"""十三 limits, the non-certificate triggers (四.1, 四.7, 五.3, 五.2b) and reversal."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from elig_builders import (
    EMPLOYER,
    ENTERPRISE,
    LATHE,
    PARAMS,
    WELDER,
    D,
    cert,
    cert_id,
    codes,
    course,
    one,
    pk,
    unemployed,
    worker,
)

from services.eligibility import facts as f
from services.eligibility.domain import (
    PriorApproval,
    PriorApprovals,
    decide_apprentice_year,
    decide_living_allowance,
    decide_order_class,
    decide_work_training,
    reverse,
)

ORDER = course("order_class", enterprise_code=ENTERPRISE, institution_code="123206004660000029")
APPRENTICES = course("new_apprenticeship", enterprise_code=ENTERPRISE)
WORK_BASED = course("work_based", enterprise_code=None)


def _approvals(year: int, n: int) -> PriorApprovals:
    return PriorApprovals.from_approvals(
        [PriorApproval("六", year, f"special_operations:1:1.{i}", subject_id=cert_id(f"x{i}")) for i in range(n)]
    )


def test_fourth_training_subsidy_in_a_calendar_year_is_rejected() -> None:
    d = one(cert(), worker(), _approvals(2020, 3))
    assert d.outcome == "rejected" and "yearly_cap_reached" in codes(d)
    assert "十三.1" in d.clauses_cited


def test_three_subsidies_last_year_do_not_count_this_year() -> None:
    assert one(cert(), worker(), _approvals(2019, 3)).outcome == "approved"


def test_third_subsidy_in_a_year_is_still_approved() -> None:
    assert one(cert(), worker(), _approvals(2020, 2)).outcome == "approved"


def test_second_subsidy_for_same_occupation_and_level_is_rejected_even_under_another_clause() -> None:
    first = one(cert(), worker())
    again = one(cert(certificate_id=cert_id("c2"), training_kind=f.ON_THE_JOB), worker(),
                PriorApprovals().add(first))
    assert first.clause == "四.4" and again.clause == "四.3"
    assert again.outcome == "rejected" and "same_occupation_and_level" in codes(again)


def test_same_occupation_at_another_level_is_a_new_subsidy() -> None:
    prior = PriorApprovals().add(one(cert(), worker()))
    assert one(cert(certificate_id=cert_id("c2"), level=3), worker(), prior).outcome == "approved"


def test_technician_reward_does_not_count_toward_the_yearly_cap() -> None:
    d = one(cert(level=2), worker(), _approvals(2020, 3))
    assert d.outcome == "approved" and not d.counts_toward_cap


def test_rejected_decisions_hold_no_slot() -> None:
    rejected = one(cert(), worker(ui_contribution_months=0))
    assert PriorApprovals().add(rejected) == PriorApprovals()


# 四.1 order classes
def _order(n: int, **kw: object) -> f.OrderClassFacts:
    return f.OrderClassFacts(ORDER.class_id, ENTERPRISE, n, D(2020, 7, 1), **kw)  # type: ignore[arg-type]


def test_order_class_of_twenty_goes_to_review_with_the_maximum_amount_for_the_enterprise() -> None:
    d = decide_order_class(_order(20), ORDER, PARAMS)
    assert (d.outcome, d.amount_fen) == ("needs_review", 20 * 100000)
    assert "amount_up_to" in codes(d)
    assert (d.payee_kind, d.payee_ref) == ("enterprise", ENTERPRISE)  # not the college running it


def test_order_class_of_nineteen_gets_nothing() -> None:
    d = decide_order_class(_order(19), ORDER, PARAMS)
    assert (d.outcome, d.amount_fen) == ("rejected", 0)


def test_order_class_whose_enterprise_is_unknown_names_no_payee_rather_than_the_college() -> None:
    d = decide_order_class(_order(20), replace(ORDER, enterprise_code=None), PARAMS)
    assert (d.payee_kind, d.payee_ref) == ("enterprise", None) and "payee_unknown" in codes(d)


def test_order_class_after_the_plan_gets_nothing() -> None:
    d = decide_order_class(replace(_order(30), completion_date=D(2022, 1, 10)), ORDER, PARAMS)
    assert d.outcome == "rejected" and "outside_plan_period" in codes(d)


def test_order_class_request_above_the_maximum_is_capped() -> None:
    asked = _order(25, requested_per_trainee_fen=150000)
    assert decide_order_class(asked, ORDER, PARAMS).amount_fen == 25 * 100000
    asked = replace(asked, requested_per_trainee_fen=80000)
    assert decide_order_class(asked, ORDER, PARAMS).amount_fen == 25 * 80000


# 四.7 apprenticeship
def test_apprenticeship_year_pays_by_level_reached() -> None:
    paid = {lvl: decide_apprentice_year(f.ApprenticeYearFacts("a1", 1, lvl, D(2020, 9, 1)),
                                        worker(), APPRENTICES, PARAMS, PriorApprovals()).amount_fen
            for lvl in (4, 3, 2, 1)}
    assert paid == {4: 400000, 3: 500000, 2: 600000, 1: 800000}


def test_apprenticeship_subsidy_goes_to_the_enterprise_else_the_employer_on_record() -> None:
    year = f.ApprenticeYearFacts("a1", 1, 4, D(2020, 9, 1))
    d = decide_apprentice_year(year, worker(), APPRENTICES, PARAMS, PriorApprovals())
    assert (d.payee_kind, d.payee_ref) == ("enterprise", ENTERPRISE)
    d = decide_apprentice_year(year, worker(), replace(APPRENTICES, enterprise_code=None), PARAMS, PriorApprovals())
    assert (d.payee_kind, d.payee_ref) == ("enterprise", EMPLOYER)
    d = decide_apprentice_year(year, worker(employed=False, employer_id=None), replace(
        APPRENTICES, enterprise_code=None), PARAMS, PriorApprovals())
    assert (d.payee_kind, d.payee_ref) == ("enterprise", None)


def test_apprenticeship_at_level_five_gets_nothing() -> None:
    d = decide_apprentice_year(f.ApprenticeYearFacts("a1", 1, 5, D(2020, 9, 1)), worker(),
                               APPRENTICES, PARAMS, PriorApprovals())
    assert d.outcome == "rejected" and "apprentice_level_not_in_table" in codes(d)


def test_the_same_apprenticeship_year_is_paid_once() -> None:
    year = f.ApprenticeYearFacts("a1", 1, 4, D(2020, 9, 1))
    first = decide_apprentice_year(year, worker(), APPRENTICES, PARAMS, PriorApprovals())
    second = decide_apprentice_year(year, worker(), APPRENTICES, PARAMS, PriorApprovals().add(first))
    assert first.outcome == "approved" and second.outcome == "rejected"
    nxt = decide_apprentice_year(replace(year, year_index=2), worker(), APPRENTICES, PARAMS,
                                 PriorApprovals().add(first))
    assert nxt.outcome == "approved"


# 五.3 以工代训
def _claim(**kw: object) -> f.WorkTrainingClaim:
    base: dict[str, object] = dict(claim_id="w1", employer_id=EMPLOYER, employer_kind="cooperative",
                                   employer_insured=False, hire_date=D(2020, 1, 15),
                                   period_start=D(2020, 2, 1), full_months=3)
    base.update(kw)
    return f.WorkTrainingClaim(**base)  # type: ignore[arg-type]


POOR = worker(low_income_household=True, hire_date=D(2020, 1, 15))


def test_work_training_pays_monthly_for_a_poor_hire() -> None:
    d = decide_work_training(_claim(), POOR, WORK_BASED, PARAMS, PriorApprovals())
    assert (d.outcome, d.amount_fen, d.months) == ("approved", 150000, 3)


def test_work_training_part_month_is_paid_by_days() -> None:
    d = decide_work_training(_claim(full_months=0, part_month_days=15), POOR, WORK_BASED, PARAMS,
                             PriorApprovals())
    assert d.amount_fen == 25000


def test_work_training_is_capped_at_six_months_across_claims() -> None:
    first = decide_work_training(_claim(full_months=4), POOR, WORK_BASED, PARAMS, PriorApprovals())
    prior = PriorApprovals().add(first)
    second = decide_work_training(_claim(claim_id="w2"), POOR, WORK_BASED, PARAMS, prior)
    assert (second.outcome, second.months, second.amount_fen) == ("approved", 2, 100000)
    assert "work_training_months_capped" in codes(second)
    third = decide_work_training(_claim(claim_id="w3"), POOR, WORK_BASED, PARAMS, prior.add(second))
    assert third.outcome == "rejected" and "work_training_months_exhausted" in codes(third)


def test_work_training_is_excluded_by_pre_job_subsidy_for_the_same_hire() -> None:
    pre_job = one(cert(training_kind=f.PRE_JOB, training_start=D(2020, 3, 1)),
                  replace(POOR, contract_months=12))
    assert pre_job.clause == "四.2" and pre_job.outcome == "approved"
    d = decide_work_training(_claim(), POOR, WORK_BASED, PARAMS, PriorApprovals().add(pre_job))
    assert d.outcome == "rejected" and "excluded_by_pre_job_training" in codes(d)


def test_difficulty_person_needs_an_insured_enterprise() -> None:
    person = worker(employment_difficulty=True)
    d = decide_work_training(_claim(employer_kind="enterprise"), person, WORK_BASED, PARAMS, PriorApprovals())
    assert d.outcome == "rejected" and "employer_not_insured" in codes(d)
    ok = decide_work_training(_claim(employer_kind="enterprise", employer_insured=True), person,
                              WORK_BASED, PARAMS, PriorApprovals())
    assert ok.outcome == "approved" and (ok.payee_kind, ok.payee_ref) == ("enterprise", EMPLOYER)


def test_work_training_without_a_known_employer_is_refused_and_pays_no_one() -> None:
    d = decide_work_training(_claim(employer_id=None), POOR, WORK_BASED, PARAMS, PriorApprovals())
    assert d.outcome == "rejected" and "employer_unknown" in codes(d) and d.payee_ref is None


def test_family_of_poor_is_treated_as_poor_for_work_training() -> None:
    """十三.4: the relative counts where the poor person's own status would."""
    plain = decide_work_training(_claim(), worker(), WORK_BASED, PARAMS, PriorApprovals())
    family = decide_work_training(_claim(), worker(family_low_income=True), WORK_BASED, PARAMS, PriorApprovals())
    assert plain.outcome == "rejected" and "not_target_group" in codes(plain)
    assert family.outcome == "approved" and "十三.4" in family.clauses_cited


def test_family_of_a_severely_disabled_person_passes_the_same_insured_enterprise_test() -> None:
    """The disabled person needs an insured enterprise (就业困难人员（含残疾人）); so does the relative."""
    relative = worker(family_severely_disabled=True)
    uninsured = decide_work_training(_claim(employer_kind="enterprise"), relative, WORK_BASED, PARAMS,
                                     PriorApprovals())
    insured = decide_work_training(_claim(employer_kind="enterprise", employer_insured=True), relative,
                                   WORK_BASED, PARAMS, PriorApprovals())
    assert uninsured.outcome == "rejected" and "employer_not_insured" in codes(uninsured)
    assert insured.outcome == "approved" and "十三.4" in insured.clauses_cited


# 五.2b living allowance
ALLOWANCE = f.LivingAllowanceClaim("l1", "course1", D(2020, 4, 1), 10)


def test_living_allowance_is_paid_per_day_to_difficulty_unemployed() -> None:
    d = decide_living_allowance(ALLOWANCE, unemployed(employment_difficulty=True), PARAMS,
                                PriorApprovals())
    assert (d.outcome, d.amount_fen) == ("approved", 30000)


def test_no_living_allowance_while_drawing_unemployment_benefit() -> None:
    person = unemployed(employment_difficulty=True, drawing_ui_benefit=True)
    d = decide_living_allowance(ALLOWANCE, person, PARAMS, PriorApprovals())
    assert d.outcome == "rejected" and "drawing_ui_benefit" in codes(d)


def test_living_allowance_needs_a_target_group_unless_family_of_poor_or_disabled() -> None:
    plain = decide_living_allowance(ALLOWANCE, unemployed(), PARAMS, PriorApprovals())
    family = decide_living_allowance(ALLOWANCE, unemployed(family_severely_disabled=True), PARAMS,
                                     PriorApprovals())
    assert plain.outcome == "rejected" and family.outcome == "approved"
    assert "十三.4" in family.clauses_cited and "十三.4" not in plain.clauses_cited
    assert (family.payee_kind, family.payee_ref) == ("worker", pk("p1"))


def test_a_relative_must_pass_the_disabled_persons_tests_for_the_living_allowance() -> None:
    """Registered unemployed and not drawing unemployment benefit, as the person would have to be."""
    working = decide_living_allowance(ALLOWANCE, worker(family_severely_disabled=True), PARAMS, PriorApprovals())
    benefit = decide_living_allowance(ALLOWANCE, unemployed(family_severely_disabled=True, drawing_ui_benefit=True),
                                      PARAMS, PriorApprovals())
    assert working.outcome == benefit.outcome == "rejected"
    assert "drawing_ui_benefit" in codes(benefit)


def test_living_allowance_claim_is_paid_once() -> None:
    person = unemployed(low_income_household=True)
    first = decide_living_allowance(ALLOWANCE, person, PARAMS, PriorApprovals())
    again = decide_living_allowance(ALLOWANCE, person, PARAMS, PriorApprovals().add(first))
    assert first.outcome == "approved" and again.outcome == "rejected"


# Reversal
def test_revoked_certificate_reverses_its_subsidy_with_a_negative_amount() -> None:
    d = one(cert(occupation_code=LATHE), worker())
    (rev,) = reverse([d])
    assert (rev.clause, rev.outcome, rev.amount_fen) == ("四.4", "reversed", -91000)
    assert rev.reverses_clause_of == cert_id("c1") and "certificate_revoked" in codes(rev)
    assert (rev.payee_kind, rev.payee_ref) == (d.payee_kind, d.payee_ref)


def test_reversal_is_not_repeated_and_skips_rejections() -> None:
    approved, rejected = one(cert(), worker()), one(cert(), worker(ui_contribution_months=0))
    reversals = reverse([approved, rejected])
    assert len(reversals) == 1
    assert reverse([approved, rejected, *reversals]) == []


def test_reversal_gives_the_slot_back() -> None:
    d = one(cert(), worker())
    prior = PriorApprovals().add(d).add(reverse([d])[0])
    assert one(cert(certificate_id=cert_id("c2")), worker(), prior).outcome == "approved"


def test_reversed_work_training_months_are_given_back() -> None:
    d = decide_work_training(_claim(full_months=6), POOR, WORK_BASED, PARAMS, PriorApprovals())
    prior = PriorApprovals().add(d).add(reverse([d])[0])
    assert prior.work_training_months == Fraction(0)


def test_explanations_name_clause_amount_and_reason_in_both_languages() -> None:
    d = one(cert(occupation_code=LATHE), worker())
    assert "四.4" in d.explanation_zh and "910.00" in d.explanation_zh and "紧缺" in d.explanation_zh
    assert "910.00 yuan" in d.explanation_en and "shortage" in d.explanation_en
    r = one(cert(occupation_code=WELDER), worker(ui_contribution_months=3))
    assert "失业保险" in r.explanation_zh and "unemployment-insurance" in r.explanation_en
