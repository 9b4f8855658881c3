"""Clauses triggered by something other than a person's certificate: 四.1, 四.7, 五.3, 五.2b.

Each takes its own facts value and returns one Decision, using the parameters in force on the
day the trigger happened (class completion, apprenticeship year end, the period it pays); a day
outside the plan period is refused citing it. 十三.4 applies where the relative's own status would
count, with the tests that relative would have to pass.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from shared.money import fen_to_yuan, round_half_up

from . import reasons as rs
from .decision import APPROVED, NEEDS_REVIEW, REJECTED, Decision, Reason, Step
from .facts import (
    ApprenticeYearFacts,
    LivingAllowanceClaim,
    OrderClassFacts,
    PersonFacts,
    TrainingClass,
    WorkTrainingClaim,
)
from .limits import PriorApprovals, remaining_work_training_months
from .params import ParameterSet, ParamView
from .payees import enterprise_of, payee, payee_kind

TRIGGER_KEYS: dict[str, tuple[str, ...]] = {
    "四.1": ("四.1.min_trainees", "四.1.max_per_trainee_fen", "payee.kind"),
    "四.7": ("四.7.per_year_fen", "payee.kind"),
    "五.3": ("五.3.per_month_fen", "五.3.max_months", "payee.kind"),
    "五.2b": ("五.2b.per_day_fen", "payee.kind"),
}
WORK_TRAINING_EMPLOYERS = frozenset({"enterprise", "cooperative", "poverty_workshop"})


def dated_view(params: ParameterSet, day: dt.date) -> tuple[ParamView, bool]:
    """The parameters a trigger on `day` reads, and whether the day is outside the plan period
    (then the period's nearest day, whose rules the refusal still cites)."""
    outside = not params.in_period(day)
    return params.at(params.nearest_in_period(day) if outside else day), outside


def _decision(
    clause: str, view: ParamView, outside: bool, subject: str, fails: list[Reason], fen: int,
    steps: tuple[Step, ...], *, outcome: str = APPROVED, cited: tuple[str, ...] | None = None,
    **extra: object,
) -> Decision:
    cited = cited or (clause,)
    if outside:
        fails = [rs.OUTSIDE_PLAN_PERIOD, *fails]
    if fails:
        outcome, fen, steps = REJECTED, 0, ()
    return Decision(
        clause=clause, outcome=outcome, amount_fen=fen, reasons=tuple(fails), steps=steps,
        clauses_cited=cited, parameter_versions=view.versions_of(TRIGGER_KEYS[clause]) or (),
        subject_id=subject, year=view.day.year, **extra,  # type: ignore[arg-type]
    )


def _no_parameters(clause: str, view: ParamView, subject: str) -> Decision | None:
    if view.versions_of(TRIGGER_KEYS[clause]) is not None:
        return None
    return _decision(clause, view, False, subject, [rs.NO_PARAMETERS], 0, ())


def _scope(person: PersonFacts) -> list[Reason]:
    """十三.3: out of scope when drawing, or entitled to, a monthly pension."""
    if person.drawing_monthly_pension:
        return [rs.PENSION_DRAWER]
    return [rs.PENSION_ENTITLED] if person.pension_entitled else []


def _paid(d: Decision, kind: str, ref: str | None) -> Decision:
    notes = (rs.PAYEE_UNKNOWN,) if ref is None and d.outcome != REJECTED else ()
    return d._replace(payee_kind=kind, payee_ref=ref, reasons=d.reasons + notes)


def decide_order_class(facts: OrderClassFacts, cls: TrainingClass, params: ParameterSet) -> Decision:
    """四.1: ≥ 20 trainees; "up to" 1,000 yuan each, so a reviewer fixes the amount. The enterprise
    that runs the order class is paid, never the college."""
    view, outside = dated_view(params, facts.completion_date)
    missing = _no_parameters("四.1", view, facts.class_id)
    if missing:
        return missing
    kind = payee_kind("四.1", view, cls, None)
    ref = enterprise_of("四.1", cls, None) if kind == "enterprise" else cls.institution_code
    if facts.trainees < view.get("四.1.min_trainees"):
        return _paid(_decision("四.1", view, outside, facts.class_id, [rs.CLASS_TOO_SMALL], 0, ()), kind, ref)
    cap = view.get("四.1.max_per_trainee_fen")
    each = cap if facts.requested_per_trainee_fen is None else min(cap, facts.requested_per_trainee_fen)
    steps = (
        Step("每人最高补贴", "maximum per trainee", fen_to_yuan(cap)),
        Step("每人申请金额", "per trainee", fen_to_yuan(each)),
        Step("学员人数", "trainees", str(facts.trainees)),
    )
    d = _decision("四.1", view, outside, facts.class_id, [], each * facts.trainees, steps, outcome=NEEDS_REVIEW)
    return _paid(_with_reasons(d, () if d.outcome == REJECTED else (rs.UP_TO_AMOUNT,)), kind, ref)


def _with_reasons(d: Decision, reasons: tuple[Reason, ...]) -> Decision:
    return d._replace(reasons=d.reasons + reasons)


def decide_apprentice_year(
    facts: ApprenticeYearFacts, person: PersonFacts, cls: TrainingClass | None, params: ParameterSet,
    prior: PriorApprovals,
) -> Decision:
    """四.7: per person per apprenticeship year, by the level reached (4/3/2/1); the employer is paid."""
    view, outside = dated_view(params, facts.completion_date)
    subject = f"{facts.apprenticeship_id}#{facts.year_index}"
    missing = _no_parameters("四.7", view, subject)
    if missing:
        return missing
    fails: list[Reason] = []
    fen = view.get("四.7.per_year_fen").get(str(facts.level_reached))
    if fen is None:
        fails.append(rs.LEVEL_NOT_IN_TABLE)
    if ("四.7", subject) in prior.subjects:
        fails.append(rs.APPRENTICE_YEAR_DONE)
    fails += _scope(person)
    step = Step(f"{facts.level_reached}级学徒年度标准", f"yearly standard for level "
                f"{facts.level_reached}", fen_to_yuan(fen or 0))
    d = _decision("四.7", view, outside, subject, fails, fen or 0, (step,), cited=("四.7", "十三.3"))
    return _paid(d, *payee("四.7", view, person, cls))


def _work_training_group(claim: WorkTrainingClaim, p: PersonFacts) -> tuple[list[Reason], bool]:
    """五.3's two groups; returns (failures, whether 十三.4 family treatment made the difference).
    Poor labour qualifies with any of the employers; employment-difficulty persons (disabled
    persons included) and zero-employment families only with an insured enterprise. A relative
    of a poor or severely disabled person is treated as that person, with the same test."""
    if claim.employer_kind not in WORK_TRAINING_EMPLOYERS:
        return [rs.UNKNOWN_EMPLOYER_KIND], False
    insured_enterprise = claim.employer_kind == "enterprise" and claim.employer_insured
    difficulty = p.employment_difficulty or p.disabled or p.zero_employment_family
    if p.poor or (difficulty and insured_enterprise):
        return [], False
    family_poor = p.family_low_income or p.family_subsistence
    if family_poor or (p.family_severely_disabled and insured_enterprise):
        return [], True
    return [rs.EMPLOYER_NOT_INSURED if difficulty or p.family_severely_disabled else rs.NOT_TARGET_GROUP], False


def decide_work_training(
    claim: WorkTrainingClaim, person: PersonFacts, cls: TrainingClass | None, params: ParameterSet,
    prior: PriorApprovals,
) -> Decision:
    """五.3 以工代训: monthly subsidy, at most 6 months per person, not with 四.2 for the hire."""
    view, outside = dated_view(params, claim.period_start)
    missing = _no_parameters("五.3", view, claim.claim_id)
    if missing:
        return missing
    fails, family = _work_training_group(claim, person)
    if claim.employer_id is None:
        fails.append(rs.EMPLOYER_UNKNOWN)
    if claim.hire_key in prior.pre_job_hires:
        fails.append(rs.EXCLUDED_BY_42)
    fails += _scope(person)
    asked = claim.full_months + Fraction(claim.part_month_days, claim.part_month_length)
    granted = min(asked, remaining_work_training_months(view, prior))
    notes: list[Reason] = []
    if granted <= 0 and asked > 0:
        fails.append(rs.WORK_TRAINING_MONTHS_USED)
    elif asked <= 0:
        fails.append(rs.NO_DAYS)
    elif granted < asked:
        notes.append(rs.WORK_TRAINING_CAPPED)
    per_month = view.get("五.3.per_month_fen")
    steps = (
        Step("每月补贴标准", "monthly standard", fen_to_yuan(per_month)),
        Step("核定月数（按日折算）", "months granted (part months by days)", str(granted)),
    )
    cited = ("五.3", "四.2", "十三.3") + (("十三.4",) if family else ())
    d = _decision("五.3", view, outside, claim.claim_id, fails, round_half_up(per_month * granted), steps,
                  cited=cited, hire_key=claim.hire_key, months=granted if not fails and not outside else Fraction(0))
    d = _with_reasons(d, tuple(notes) + ((rs.FAMILY_TREATED_ALIKE,) if family else ()))
    return _paid(d, payee_kind("五.3", view, cls, claim.employer_id), claim.employer_id)


def decide_living_allowance(
    claim: LivingAllowanceClaim, person: PersonFacts, params: ParameterSet, prior: PriorApprovals
) -> Decision:
    """五.2b: living allowance during training for registered unemployed employment-difficulty
    persons and low-income rural labour (a relative of a severely disabled or low-income person
    as that person); none while drawing unemployment benefit."""
    view, outside = dated_view(params, claim.period_start)
    missing = _no_parameters("五.2b", view, claim.claim_id)
    if missing:
        return missing
    p, fails = person, []
    own = p.employment_difficulty or p.disabled or p.low_income_household
    family = not own and (p.family_severely_disabled or p.family_low_income)
    if not p.registered_unemployed or not (own or family):
        fails.append(rs.NOT_TARGET_GROUP)
    if p.drawing_ui_benefit:
        fails.append(rs.DRAWING_UI_BENEFIT)
    fails += _scope(p)
    if claim.days <= 0:
        fails.append(rs.NO_DAYS)
    if ("五.2b", claim.claim_id) in prior.subjects:
        fails.append(rs.ALREADY_DECIDED)
    per_day = view.get("五.2b.per_day_fen")
    steps = (Step("每日标准", "per day", fen_to_yuan(per_day)), Step("天数", "days", str(claim.days)))
    cited = ("五.2b", "十三.3") + (("十三.4",) if family else ())
    d = _decision("五.2b", view, outside, claim.claim_id, fails, per_day * claim.days, steps, cited=cited)
    d = _with_reasons(d, (rs.FAMILY_TREATED_ALIKE,) if family and d.outcome != REJECTED else ())
    return _paid(d, *payee("五.2b", view, p, None))
