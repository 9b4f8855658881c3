"""Certificate-triggered clauses: 四.2, 四.3, 四.4, 四.5a, 四.5b, 五.2, 五.4, 六.

One function per clause, named by its id. `route` picks the one clause a certificate falls under
(a certificate is one training, so it yields one training subsidy: 十三.1 forbids two for the same
occupation and level anyway). Each clause function lists the reasons it fails; `finish` adds the
limits of 十三 and builds the Decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from shared.money import fen_to_yuan, round_half_up

from . import facts as f
from . import reasons as rs
from .decision import APPROVED, NEEDS_REVIEW, REJECTED, Decision, Reason, Step
from .facts import CatalogStandard, CatalogView, CertificateFacts, PersonFacts
from .limits import CAP_CLAUSES, OCCUPATION_CLAUSES, PriorApprovals, cap_reasons
from .params import ParamView

LIMIT_KEYS = ("十三.1.per_year_cap",)
CLAUSE_KEYS: dict[str, tuple[str, ...]] = {
    "四.2": ("四.2.min_contract_months", "四.2.training_within_months", "四.2.share",
            "四.2.shortage_share", *LIMIT_KEYS),
    "四.3": ("四.3.share", "四.3.shortage_share", *LIMIT_KEYS),
    "四.4": ("四.4.from_date", "四.4.min_ui_months", "四.4.share", "四.4.shortage_uplift",
            *LIMIT_KEYS),
    "四.5a": ("四.5a.reward_fen", *LIMIT_KEYS),
    "四.5b": ("四.5b.from_date", "四.5b.min_pension_months", "四.5b.reward_fen"),
    "五.2": ("五.2.share", *LIMIT_KEYS),
    "五.4": ("五.4.training_fen", "五.4.certificate_reward_fen", *LIMIT_KEYS),
    "六": ("六.training_fen", *LIMIT_KEYS),
}
QUALIFICATION_KINDS = frozenset({f.VOCATIONAL_QUALIFICATION, f.SKILL_LEVEL})
TRAINING_KINDS = QUALIFICATION_KINDS | {f.SPECIAL_ABILITY, f.TRAINING_COMPLETION}  # 四.2, 五.2
SAFETY_KINDS = frozenset({f.SPECIAL_OPERATIONS, f.SPECIAL_EQUIPMENT, f.SAFETY_MANAGEMENT})  # 六
NANTONG_ONLY_KINDS = frozenset({f.SPECIAL_ABILITY, f.SPECIAL_OPERATIONS, f.TRAINING_COMPLETION})
ON_THE_JOB_KINDS = frozenset({f.ON_THE_JOB, f.JOB_TRANSFER, f.ENTERPRISE_NON_CATALOG})  # 四.3
UPGRADE_LEVELS = frozenset({5, 4, 3})  # 四.4 初级、中级、高级
HIGH_SKILL_LEVELS = frozenset({2, 1})  # 四.5a 技师、高级技师


@dataclass(frozen=True, slots=True)
class Ctx:
    """Everything one certificate decision reads."""

    cert: CertificateFacts
    person: PersonFacts
    catalog: CatalogView
    view: ParamView
    prior: PriorApprovals


@dataclass(frozen=True, slots=True)
class Amount:
    """An amount with its steps, or none yet (rejections, needs-review without a figure)."""

    fen: int
    steps: tuple[Step, ...]


NO_AMOUNT = Amount(0, ())


def route(cert: CertificateFacts, person: PersonFacts) -> str:
    """The one clause a certificate falls under, by kind, level, training kind and status."""
    if cert.kind in SAFETY_KINDS:
        return "六"
    if cert.kind == f.ENTREPRENEURSHIP:
        return "五.4"
    if cert.kind == f.DEGREE:
        return "四.5b"
    if not person.employed:
        return "五.2"
    if cert.kind in QUALIFICATION_KINDS and cert.level in HIGH_SKILL_LEVELS:
        return "四.5a"
    if cert.training_kind == f.PRE_JOB:
        return "四.2"
    if cert.training_kind in ON_THE_JOB_KINDS or cert.kind not in QUALIFICATION_KINDS:
        return "四.3"
    return "四.4"


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (hire 01-31 + 1 month = 02-28/29)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    next_first = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_first - dt.timedelta(days=1)).day))


def std_amount(std: CatalogStandard, share: Fraction, uplift: Fraction | None) -> Amount:
    """share × (training + appraisal standard) [× uplift], rounded once half-up."""
    return _std_amount(std.training_fen, std.appraisal_fen, share, uplift)


@lru_cache(maxsize=1 << 16)
def _std_amount(training: int, appraisal: int, share: Fraction, uplift: Fraction | None) -> Amount:
    steps = [
        Step("《目录》培训补贴标准", "Catalog training standard", fen_to_yuan(training)),
        Step("《目录》鉴定补贴标准", "Catalog appraisal standard", fen_to_yuan(appraisal)),
        Step("补贴比例", "share", str(share)),
    ]
    exact = Fraction(training + appraisal) * share
    if uplift is not None:
        steps.append(Step("紧缺职业上浮", "shortage uplift", f"×{uplift}"))
        exact *= uplift
    steps.append(Step("四舍五入到分", "rounded half-up to the fen", fen_to_yuan(round_half_up(exact))))
    return Amount(round_half_up(exact), tuple(steps))


@lru_cache(maxsize=4096)
def fixed_amount(fen: int, zh: str, en: str) -> Amount:
    return Amount(fen, (Step(zh, en, fen_to_yuan(fen)),))


def _catalog_share(c: Ctx, clause: str, reasons: list[Reason]) -> Amount | None:
    """四.2 / 四.3 / 五.2: share of Std, the shortage share when on that year's list."""
    std = c.catalog.standard(c.cert.occupation_code, c.cert.level, c.cert.issue_date)
    if std is None:
        return None
    if clause != "五.2" and c.catalog.is_shortage(c.cert.occupation_code, c.cert.issue_date.year):
        reasons.append(rs.SHORTAGE)
        return std_amount(std, c.view.get(f"{clause}.shortage_share"), None)
    return std_amount(std, c.view.get(f"{clause}.share"), None)


def _contract_year(p: PersonFacts, view: ParamView) -> bool:
    if p.open_ended_contract:
        return True
    return p.contract_months is not None and p.contract_months >= view.get("四.2.min_contract_months")


def clause_4_2(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """四.2 new hire with a ≥ 1-year contract, training started within 12 months of hiring."""
    p, cert, fails = c.person, c.cert, []
    if cert.kind not in TRAINING_KINDS:
        fails.append(rs.WRONG_KIND)
    if not _contract_year(p, c.view):
        fails.append(rs.NO_CONTRACT_YEAR)
    if cert.training_start is None or p.hire_date is None:
        fails.append(rs.NO_TRAINING_START)
    elif not p.hire_date <= cert.training_start < add_months(
        p.hire_date, c.view.get("四.2.training_within_months")
    ):
        fails.append(rs.TRAINING_NOT_WITHIN_HIRE_WINDOW)
    if p.hire_key is not None and p.hire_key in c.prior.work_training_hires:
        fails.append(rs.EXCLUDED_BY_53)
    return _with_catalog(c, "四.2", fails, rs.NOT_IN_CATALOG)


def clause_4_3(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """四.3 on-the-job / job-transfer training; out-of-Catalog trades go to a reviewer."""
    return _with_catalog(c, "四.3", [], rs.OUT_OF_CATALOG_AT_COST)


def _with_catalog(
    c: Ctx, clause: str, fails: list[Reason], missing: Reason
) -> tuple[list[Reason], Amount | None]:
    notes: list[Reason] = []
    amount = _catalog_share(c, clause, notes)
    if amount is None:
        return [*fails, missing], None
    return [*fails, *notes], amount


def clause_4_4(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """四.4 ≥ 12 months of UI contributions; level 5/4/3 certificate from 2019-01-01."""
    p, cert, v, fails = c.person, c.cert, c.view, []
    if cert.kind not in QUALIFICATION_KINDS:
        fails.append(rs.WRONG_KIND)
    if cert.level not in UPGRADE_LEVELS:
        fails.append(rs.WRONG_LEVEL)
    if cert.issue_date < v.get("四.4.from_date"):
        fails.append(rs.BEFORE_START_DATE)
    if p.ui_contribution_months < v.get("四.4.min_ui_months"):
        fails.append(rs.UI_MONTHS_SHORT)
    _provincial(c, fails)
    std = c.catalog.standard(cert.occupation_code, cert.level, cert.issue_date)
    if std is None:
        return [*fails, rs.NOT_IN_CATALOG], None
    if c.catalog.is_shortage(cert.occupation_code, cert.issue_date.year):
        # Reading chosen in RULES.md: "上浮30%" raises the 50% base by 30% of itself.
        fails.append(rs.SHORTAGE)
        return fails, std_amount(std, v.get("四.4.share"), v.get("四.4.shortage_uplift"))
    return fails, std_amount(std, v.get("四.4.share"), None)


def _provincial(c: Ctx, fails: list[Reason]) -> None:
    """四.4 / 四.5a: not with the provincial high-skill shortage subsidy for the same certificate."""
    if c.cert.certificate_id in c.person.provincial_subsidy_certificates:
        fails.append(rs.PROVINCIAL_SUBSIDY_RECEIVED)
    elif c.catalog.on_provincial_list(c.cert.occupation_code, c.cert.issue_date.year):
        fails.append(rs.PROVINCIAL_NOTE)


def clause_4_5a(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """四.5a technician (2) / senior technician (1) reward for an employee."""
    fails: list[Reason] = []
    if not c.person.employed:
        fails.append(rs.NOT_EMPLOYED)
    _provincial(c, fails)
    table = c.view.get("四.5a.reward_fen")
    fen = table.get(str(c.cert.level))
    if fen is None:
        return [*fails, rs.WRONG_LEVEL], None
    return fails, fixed_amount(fen, f"{c.cert.level}级奖励标准", f"reward for level {c.cert.level}")


def clause_4_5b(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """四.5b degree (大专及以上) by further education from 2019-07-01, once per person."""
    p, cert, v, fails = c.person, c.cert, c.view, []
    if not (p.employed and p.employer_in_nantong and p.pension_insured_in_nantong):
        fails.append(rs.NOT_NANTONG_EMPLOYER)
    if p.pension_contribution_months < v.get("四.5b.min_pension_months"):
        fails.append(rs.PENSION_MONTHS_SHORT)
    if cert.issue_date < v.get("四.5b.from_date"):
        fails.append(rs.BEFORE_START_DATE)
    if not cert.via_further_education:
        fails.append(rs.NOT_FURTHER_EDUCATION)
    if c.prior.degree_reward_received:
        fails.append(rs.DEGREE_REWARD_TAKEN)
    return fails, fixed_amount(v.get("四.5b.reward_fen"), "一次性奖励", "one-time reward")


def clause_5_2(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """五.2 registered unemployed who completed the hours and obtained a certificate."""
    fails: list[Reason] = []
    if not c.person.registered_unemployed:
        fails.append(rs.NOT_REGISTERED_UNEMPLOYED)
    if c.cert.kind not in TRAINING_KINDS:
        fails.append(rs.WRONG_KIND)
    if not c.cert.required_hours_completed:
        fails.append(rs.HOURS_NOT_COMPLETED)
    return _with_catalog(c, "五.2", fails, rs.NOT_IN_CATALOG)


def clause_5_4(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """五.4 entrepreneurship training: subsidy by training kind plus a certificate reward."""
    p, v, fails = c.person, c.view, []
    if not (p.student_final_two_years or p.registered_unemployed):
        fails.append(rs.NOT_STUDENT_OR_UNEMPLOYED)
    fen = v.get("五.4.training_fen").get(c.cert.training_kind or "")
    if fen is None:
        return [*fails, rs.UNKNOWN_TRAINING_KIND], None
    reward = v.get("五.4.certificate_reward_fen")
    steps = (
        Step("创业培训补贴", "entrepreneurship training subsidy", fen_to_yuan(fen)),
        Step("获证奖励", "certificate reward", fen_to_yuan(reward)),
    )
    return fails, Amount(fen + reward, steps)


def clause_6(c: Ctx) -> tuple[list[Reason], Amount | None]:
    """六 special-operations, special-equipment and safety-management certificates."""
    fen = c.view.get("六.training_fen").get(c.cert.kind)
    if fen is None:
        return [rs.WRONG_KIND], None
    return [], fixed_amount(fen, "按证书类别的培训补贴", "training subsidy for the certificate kind")


CLAUSES: dict[str, Callable[[Ctx], tuple[list[Reason], Amount | None]]] = {
    "四.2": clause_4_2, "四.3": clause_4_3, "四.4": clause_4_4, "四.5a": clause_4_5a,
    "四.5b": clause_4_5b, "五.2": clause_5_2, "五.4": clause_5_4, "六": clause_6,
}
# Informational reasons that do not block approval (compared by code: str hashes are cached).
NOTE_CODES = frozenset({rs.SHORTAGE.code, rs.PROVINCIAL_NOTE.code})
REVIEW_CODES = frozenset({rs.OUT_OF_CATALOG_AT_COST.code})
PASSING_CODES = NOTE_CODES | REVIEW_CODES


def cited(clause: str, cert: CertificateFacts) -> tuple[str, ...]:
    """Every clause id applied: the clause, its exclusions and the limits of 十三 it checked."""
    return _cited(clause, cert.kind)


@lru_cache(maxsize=256)
def _cited(clause: str, kind: str) -> tuple[str, ...]:
    ids = [clause]
    if clause == "四.2":
        ids.append("五.3")
    if clause in CAP_CLAUSES or clause in OCCUPATION_CLAUSES:
        ids.append("十三.1")
    if kind in NANTONG_ONLY_KINDS:
        ids.append("十三.2")
    ids.append("十三.3")
    return tuple(ids)


def finish(c: Ctx, clause: str, found: list[Reason], amount: Amount | None) -> Decision:
    """Apply 十三.2 / 十三.3 / 十三.1 and build the decision."""
    blocking = [r for r in found if r.code not in PASSING_CODES]
    if c.cert.kind in NANTONG_ONLY_KINDS and not c.cert.issued_in_nantong:
        blocking.append(rs.NOT_OBTAINED_IN_NANTONG)
    if c.person.drawing_monthly_pension:
        blocking.append(rs.PENSION_DRAWER)
    year, key = c.cert.issue_date.year, c.cert.occupation_key
    if not blocking:
        blocking.extend(cap_reasons(clause, year, key, c.view, c.prior))
    if blocking:
        outcome, amount = REJECTED, NO_AMOUNT
        shown = tuple(blocking) + tuple(r for r in found if r.code in NOTE_CODES)
    else:
        review = any(r.code in REVIEW_CODES for r in found)
        outcome, shown = (NEEDS_REVIEW if review else APPROVED), tuple(found)
        amount = amount or NO_AMOUNT
    return Decision(
        clause, outcome, amount.fen, shown, amount.steps, _cited(clause, c.cert.kind),
        c.view.versions_of(CLAUSE_KEYS[clause]) or (), c.cert.certificate_id, year,
        key if clause in OCCUPATION_CLAUSES else None, clause in CAP_CLAUSES,
        c.person.hire_key if clause == "四.2" else None,
    )
