"""Certificate-triggered clauses: 四.2, 四.3, 四.4, 四.5a, 四.5b, 五.2, 五.4, 六. Pure.

One function per clause, named by its id: it lists what it finds (reasons, with notes such as the
shortage list) and the amount with its steps. `choice.py` tests a certificate against every clause
it matches, adds 十三 and the plan period, and applies the most favourable. An input nothing has
filled in is a named reason (a rejection or a review), never a pass.
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
from .catalog import CatalogLine, CatalogView
from .decision import Reason, Step
from .facts import CertificateFacts, PersonFacts
from .limits import PriorApprovals
from .params import ParamView

LIMIT_KEYS = ("十三.1.per_year_cap", "payee.kind")
CLAUSE_KEYS: dict[str, tuple[str, ...]] = {
    "四.2": ("四.2.min_contract_months", "四.2.training_within_months", "四.2.share",
            "四.2.shortage_share", *LIMIT_KEYS),
    "四.3": ("四.3.share", "四.3.shortage_share", "四.3.at_cost_cap_fen", *LIMIT_KEYS),
    "四.4": ("四.4.from_date", "四.4.min_ui_months", "四.4.share", "四.4.shortage_uplift",
            "四.4.apply_within_months", *LIMIT_KEYS),
    "四.5a": ("四.5a.reward_fen", *LIMIT_KEYS),
    "四.5b": ("四.5b.from_date", "四.5b.min_pension_months", "四.5b.reward_fen", *LIMIT_KEYS),
    "五.2": ("五.2.share", *LIMIT_KEYS),
    "五.4": ("五.4.training_fen", "五.4.certificate_reward_fen", *LIMIT_KEYS),
    "六": ("六.training_fen", *LIMIT_KEYS),
}
TRAINING_KINDS = f.LEVELLED_KINDS | {f.SPECIAL_ABILITY, f.TRAINING_COMPLETION}  # 四.2, 四.3, 五.2
NANTONG_ONLY_KINDS = frozenset({f.SPECIAL_ABILITY, f.SPECIAL_OPERATIONS, f.TRAINING_COMPLETION})  # 十三.2
UPGRADE_LEVELS = frozenset({5, 4, 3})  # 四.4 初级、中级、高级
HIGH_SKILL_LEVELS = frozenset({2, 1})  # 四.5a 技师、高级技师
CATALOG_CLAUSES = frozenset({"四.2", "四.3", "四.4", "五.2"})
SHARE = {clause: f"{clause}.share" for clause in CATALOG_CLAUSES}
SHORTAGE_SHARE = {clause: f"{clause}.shortage_share" for clause in ("四.2", "四.3")}
SHORTAGE_CLAUSES = frozenset({"四.2", "四.3", "四.4"})


def project_of(cert: CertificateFacts) -> str | None:
    """五.4's project: the registry's project type (V1 certificates carried it as training kind)."""
    if cert.project_type:
        return cert.project_type
    return cert.training_kind if cert.training_kind in f.ENTREPRENEURSHIP_PROJECTS else None


class Ctx:
    """Everything one certificate decision reads; the Catalog line and lists looked up once."""

    __slots__ = ("cert", "person", "catalog", "view", "prior", "outside", "code", "evidence", "_std", "_short")

    def __init__(self, cert: CertificateFacts, person: PersonFacts, catalog: CatalogView, view: ParamView,
                 prior: PriorApprovals, outside: bool) -> None:
        self.cert, self.person, self.catalog, self.view, self.prior = cert, person, catalog, view, prior
        self.outside = outside
        code = cert.occupation_code
        self.code = None if code is None else catalog.editions.canonical(code, cert.occupation_edition)
        self.evidence = cert.training_evidence
        self._std: CatalogLine | None | bool = False
        self._short: tuple[bool, str | None] | None = None

    def std(self) -> CatalogLine | None:
        if self._std is False:
            self._std = self.catalog.standard(self.code, self.cert.level, self.cert.issue_date)
        return self._std  # type: ignore[return-value]

    def std_amount(self, std: CatalogLine, share_key: str, uplift_key: str | None = None) -> Amount:
        """share × Std [× uplift], memoised per parameter day (Fractions hash slowly)."""
        memo = self.view.memo
        k = (share_key, uplift_key, std.training_fen, std.appraisal_fen)
        found = memo.get(k)
        if found is None:
            uplift = self.view.get(uplift_key) if uplift_key else None
            found = memo[k] = _std_amount(std.training_fen, std.appraisal_fen, self.view.get(share_key), uplift)
        return found  # type: ignore[no-any-return]

    def shortage(self) -> tuple[bool, str | None]:
        """(on that year's market-shortage list, the list version read or None if none published)."""
        if self._short is None:
            listed = self.catalog.shortage_list(self.cert.issue_date.year)
            self._short = (listed is not None and self.code in listed.codes, listed.version if listed else None)
        return self._short


@dataclass(frozen=True, slots=True)
class Amount:
    """An amount with its steps, or none yet (rejections, needs-review without a figure)."""

    fen: int
    steps: tuple[Step, ...]


NO_AMOUNT = Amount(0, ())
NO_MONTHS = Fraction(0)
Found = tuple[list[Reason], Amount | None]
# A clause whose first condition fails says only that (the cheap gates of the employee clauses and
# of 五.2): "why it did not apply" needs one reason, and most certificates meet a gate or two.
NOT_EMPLOYED_ONLY: Found = ([rs.NOT_EMPLOYED], None)
NOT_REGISTERED_ONLY: Found = ([rs.NOT_REGISTERED_UNEMPLOYED], None)


@lru_cache(maxsize=1 << 16)
def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's end (hire 01-31 + 1 month = 02-28/29)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    next_first = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_first - dt.timedelta(days=1)).day))


@lru_cache(maxsize=1 << 16)
def _std_amount(training: int, appraisal: int, share: Fraction, uplift: Fraction | None) -> Amount:
    """share × (training + appraisal standard) [× uplift], rounded once half-up."""
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


def std_amount(std: CatalogLine, share: Fraction, uplift: Fraction | None) -> Amount:
    return _std_amount(std.training_fen, std.appraisal_fen, share, uplift)


@lru_cache(maxsize=4096)
def fixed_amount(fen: int, zh: str, en: str) -> Amount:
    return Amount(fen, (Step(zh, en, fen_to_yuan(fen)),))


def _catalog_share(c: Ctx, clause: str, found: list[Reason], missing: Reason) -> Found:
    """四.2 / 四.3 / 五.2: share of Std, the shortage share when on that year's list (not 五.2)."""
    std = c.std()
    if std is None:
        return [*found, missing], None
    if clause in SHORTAGE_CLAUSES and c.shortage()[0]:
        return [*found, rs.SHORTAGE], c.std_amount(std, SHORTAGE_SHARE[clause])
    return found, c.std_amount(std, SHARE[clause])


def _contract_year(p: PersonFacts, view: ParamView) -> bool:
    if p.open_ended_contract:
        return True
    return p.contract_months is not None and p.contract_months >= view.get("四.2.min_contract_months")


def clause_4_2(c: Ctx) -> Found:
    """四.2 hired on a contract of ≥ 1 year; the training started within 12 months of hiring."""
    p, fails = c.person, []
    if not p.employed:
        return NOT_EMPLOYED_ONLY
    if not _contract_year(p, c.view):
        fails.append(rs.NO_CONTRACT_YEAR)
    start = c.cert.started
    if start is None or p.hire_date is None:
        fails.append(rs.NO_TRAINING_START)
    elif not p.hire_date <= start < add_months(p.hire_date, c.view.get("四.2.training_within_months")):
        fails.append(rs.TRAINING_NOT_WITHIN_HIRE_WINDOW)
    if c.prior.work_training_hires and p.hire_key in c.prior.work_training_hires:
        fails.append(rs.EXCLUDED_BY_53)
    return _catalog_share(c, "四.2", fails, rs.NOT_IN_CATALOG)


def clause_4_3(c: Ctx) -> Found:
    """四.3 on-the-job / job-transfer training of an employee; 《目录》外 trades at cost, on evidence."""
    if not c.person.employed:
        return NOT_EMPLOYED_ONLY
    fails = [] if c.evidence & f.ON_THE_JOB_TRAININGS else [rs.NOT_ON_THE_JOB_TRAINING]
    return _catalog_share(c, "四.3", fails, rs.OUT_OF_CATALOG_AT_COST)


def clause_4_4(c: Ctx) -> Found:
    """四.4 insured employee, ≥ 12 months of UI; level 5/4/3 from 2019-01-01, applied within 12 months."""
    p, cert, v, fails = c.person, c.cert, c.view, []
    if not p.employed:
        return NOT_EMPLOYED_ONLY
    if cert.issue_date < v.get("四.4.from_date"):
        fails.append(rs.BEFORE_START_DATE)
    if p.ui_contribution_months < v.get("四.4.min_ui_months"):
        fails.append(rs.UI_MONTHS_SHORT)
    if cert.received_on is None:
        fails.append(rs.RECEIPT_DAY_UNKNOWN)
    elif cert.received_on >= add_months(cert.issue_date, v.get("四.4.apply_within_months")):
        fails.append(rs.APPLIED_TOO_LATE)
    _provincial(c, fails)
    std = c.std()
    if std is None:
        return [*fails, rs.NOT_IN_CATALOG], None
    if c.shortage()[0]:
        # Reading chosen in RULES.md: "上浮30%" raises the 50% base by 30% of itself.
        return [*fails, rs.SHORTAGE], c.std_amount(std, "四.4.share", "四.4.shortage_uplift")
    return fails, c.std_amount(std, "四.4.share")


def _provincial(c: Ctx, fails: list[Reason]) -> None:
    """四.4 / 四.5a: not with the provincial high-skill shortage subsidy for the same certificate,
    which the provincial system reports by certificate number."""
    if c.cert.number in c.person.provincial_subsidy_certificates:
        fails.append(rs.PROVINCIAL_SUBSIDY_RECEIVED)
        return
    listed = c.catalog.provincial_list(c.cert.issue_date.year)
    if listed is not None and c.code in listed.codes:
        fails.append(rs.PROVINCIAL_NOTE)


def clause_4_5a(c: Ctx) -> Found:
    """四.5a technician (2) / senior technician (1) reward for an employee."""
    if not c.person.employed:
        return NOT_EMPLOYED_ONLY
    fails: list[Reason] = []
    _provincial(c, fails)
    fen = c.view.get("四.5a.reward_fen").get(str(c.cert.level))
    if fen is None:
        return [*fails, rs.WRONG_LEVEL], None
    return fails, fixed_amount(fen, f"{c.cert.level}级奖励标准", f"reward for level {c.cert.level}")


def clause_4_5b(c: Ctx) -> Found:
    """四.5b degree (大专及以上) by further education from 2019-07-01, once per person."""
    p, cert, v = c.person, c.cert, c.view
    fails: list[Reason] = []
    _nantong_employee(p, fails)
    if p.pension_insured_in_nantong is not None and p.pension_contribution_months < v.get("四.5b.min_pension_months"):
        fails.append(rs.PENSION_MONTHS_SHORT)
    if cert.issue_date < v.get("四.5b.from_date"):
        fails.append(rs.BEFORE_START_DATE)
    record = p.degree_records.get(cert.number)
    if record is None:
        fails.append(rs.DEGREE_RECORD_MISSING)
    else:
        if record.study_mode not in f.FURTHER_EDUCATION_MODES:
            fails.append(rs.NOT_FURTHER_EDUCATION)
        if record.education_level not in f.DEGREE_LEVELS:
            fails.append(rs.DEGREE_BELOW_ASSOCIATE)
    if c.prior.degree_reward_received:
        fails.append(rs.DEGREE_REWARD_TAKEN)
    return fails, fixed_amount(v.get("四.5b.reward_fen"), "一次性奖励", "one-time reward")


def _nantong_employee(p: PersonFacts, fails: list[Reason]) -> None:
    """四.5b "我市企业在职职工 ... 仍在我市就业并参保": employed by an enterprise registered in
    Nantong and pension-insured in Nantong. What no record says is a missing fact, never a pass."""
    if not p.employed:
        fails.append(rs.EMPLOYER_UNKNOWN)
    elif p.employer_in_nantong is None:
        fails.append(rs.EMPLOYER_PLACE_UNKNOWN)
    elif not p.employer_in_nantong:
        fails.append(rs.NOT_NANTONG_EMPLOYER)
    if p.pension_insured_in_nantong is None:
        fails.append(rs.INSURED_PLACE_UNKNOWN)
    elif not p.pension_insured_in_nantong:
        fails.append(rs.INSURED_OUTSIDE_NANTONG)


def _unemployed_scope(p: PersonFacts) -> list[Reason]:
    """五.2's registered unemployed; 十三.3 brings in anyone else with training needs who is not
    employed (entitlement to a monthly pension is checked for every clause in choice.judge)."""
    if p.registered_unemployed:
        return []
    return [rs.NOT_REGISTERED_UNEMPLOYED] if p.employed else [rs.IN_SCOPE_BY_13_3]


def clause_5_2(c: Ctx) -> Found:
    """五.2 registered unemployed (and 十三.3's scope) who completed the required hours and obtained a certificate."""
    fails = _unemployed_scope(c.person)
    if fails and fails[0] is rs.NOT_REGISTERED_UNEMPLOYED:
        return NOT_REGISTERED_ONLY
    cls, done = c.cert.training_class, c.cert.completed_hours
    if cls is None:
        fails.append(rs.CLASS_UNKNOWN)
    elif cls.required_hours is None or done is None:
        fails.append(rs.HOURS_UNKNOWN)
    elif done < cls.required_hours:
        fails.append(rs.HOURS_NOT_COMPLETED)
    return _catalog_share(c, "五.2", fails, rs.NOT_IN_CATALOG)


def clause_5_4(c: Ctx) -> Found:
    """五.4 entrepreneurship training: subsidy by project plus a certificate reward."""
    p, v = c.person, c.view
    fails = [] if p.student_final_two_years else _unemployed_scope(p)
    if fails == [rs.NOT_REGISTERED_UNEMPLOYED]:
        fails = [rs.NOT_STUDENT_OR_UNEMPLOYED]
    fen = v.get("五.4.training_fen").get(project_of(c.cert) or "")
    if fen is None:
        return [*fails, rs.UNKNOWN_TRAINING_KIND], None
    return fails, _entrepreneurship_amount(fen, v.get("五.4.certificate_reward_fen"))


@lru_cache(maxsize=256)
def _entrepreneurship_amount(fen: int, reward: int) -> Amount:
    steps = (
        Step("创业培训补贴", "entrepreneurship training subsidy", fen_to_yuan(fen)),
        Step("获证奖励", "certificate reward", fen_to_yuan(reward)),
    )
    return Amount(fen + reward, steps)


def clause_6(c: Ctx) -> Found:
    """六 special-operations, special-equipment and safety-management certificates."""
    fen = c.view.get("六.training_fen").get(c.cert.kind)
    if fen is None:
        return [rs.WRONG_KIND], None
    return [], fixed_amount(fen, "按证书类别的培训补贴", "training subsidy for the certificate kind")


CLAUSES: dict[str, Callable[[Ctx], Found]] = {
    "四.2": clause_4_2, "四.3": clause_4_3, "四.4": clause_4_4, "四.5a": clause_4_5a,
    "四.5b": clause_4_5b, "五.2": clause_5_2, "五.4": clause_5_4, "六": clause_6,
}
# Informational reasons that do not block approval (compared by code: str hashes are cached).
NOTE_CODES = frozenset({rs.SHORTAGE.code, rs.PROVINCIAL_NOTE.code, rs.IN_SCOPE_BY_13_3.code})
# An input nobody has filled in, or a figure the plan leaves to a person: a reviewer decides.
REVIEW_CODES = frozenset({rs.OUT_OF_CATALOG_AT_COST.code, rs.RECEIPT_DAY_UNKNOWN.code,
                          rs.REPEAT_KEY_UNKNOWN.code})
PASSING_CODES = NOTE_CODES | REVIEW_CODES
# A fact no record has given yet: the decision is a rejection naming it (a pass never), and the
# person is decided again when a record of it arrives (every fact re-decides its person).
MISSING_FACT_CODES = frozenset({rs.CLASS_UNKNOWN.code, rs.HOURS_UNKNOWN.code, rs.DEGREE_RECORD_MISSING.code,
                                rs.EMPLOYER_UNKNOWN.code, rs.EMPLOYER_PLACE_UNKNOWN.code,
                                rs.INSURED_PLACE_UNKNOWN.code, rs.ISSUE_PLACE_UNKNOWN.code})
