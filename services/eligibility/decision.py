"""Decision values: outcome, amount in fen, reasons, steps, clauses and parameter versions.

A Decision is a pure value; the service attaches the event, person and fact snapshot when it
stores one. The explanations are derived from the other fields, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from shared.money import fen_to_yuan

APPROVED = "approved"
REJECTED = "rejected"
NEEDS_REVIEW = "needs_review"
REVERSED = "reversed"  # a reversal of an earlier decision (negative amount)
PENDING = "pending"  # waiting for the holder's facts (waiting.facts_days), then decided on what is known
OUTCOMES = (APPROVED, REJECTED, NEEDS_REVIEW, REVERSED, PENDING)

CLAUSE_TITLES: dict[str, tuple[str, str]] = {
    "四.1": ("订单班补贴", "order-class subsidy"),
    "四.2": ("新录用人员岗前培训补贴", "pre-job training subsidy for a new hire"),
    "四.3": ("在岗和转岗转业培训补贴", "on-the-job / job-transfer training subsidy"),
    "四.4": ("企业职工岗位技能提升补贴", "skill-upgrading subsidy for insured workers"),
    "四.5a": ("技师、高级技师培训补贴（奖励）", "technician / senior technician reward"),
    "四.5b": ("学历提升一次性奖励", "one-time reward for a further-education degree"),
    "四.7": ("企业新型学徒培训补贴", "new-type apprenticeship subsidy"),
    "五.2": ("城乡登记失业人员职业技能培训补贴", "training subsidy for registered unemployed"),
    "五.2b": ("培训期间生活费补贴", "living allowance during training"),
    "五.3": ("以工代训补贴", "training-through-work subsidy"),
    "五.4": ("创业培训补贴和获证奖励", "entrepreneurship training subsidy and reward"),
    "六": ("高危行业和特种作业人员安全技能培训补贴", "safety-skills training subsidy"),
}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an outcome is what it is: a stable code and text in both languages."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an amount: what was taken and its value ("1700.00", "1/2", "×13/10")."""

    description_zh: str
    description_en: str
    value: str


class Considered(NamedTuple):
    """A clause a certificate was tested against: its outcome, amount and why (the steps are kept
    for the one applied). Immutable; a NamedTuple because one is built per clause and certificate."""

    clause: str
    outcome: str
    amount_fen: int
    reasons: tuple[Reason, ...]
    steps: tuple[Step, ...] = ()


class Decision(NamedTuple):
    """One decision for one clause of one trigger (certificate, class, claim). Immutable (a
    NamedTuple: the pure step builds one per trigger, several hundred thousand a run)."""

    clause: str
    outcome: str
    amount_fen: int
    reasons: tuple[Reason, ...]
    steps: tuple[Step, ...]
    clauses_cited: tuple[str, ...]
    parameter_versions: tuple[tuple[str, str], ...]
    subject_id: str  # certificate id, class id or claim id
    year: int  # calendar year it counts in (十三.1)
    occupation_key: str | None = None  # 十三.1 同一职业同一等级: the trigger's repeat key
    counts_toward_cap: bool = False  # 十三.1 "每人每年不超过3次"
    hire_key: str | None = None  # 四.2 / 五.3 "same new hire"
    months: Fraction = Fraction(0)  # 五.3 months granted (negative when reversed)
    reverses_clause_of: str | None = None  # subject whose decision this reverses
    catalog_line: str | None = None  # the Catalog line the amount used (CatalogLine.ref)
    shortage_list: str | None = None  # the market-shortage list version read for that year
    considered: tuple[Considered, ...] = ()  # the other clauses tested (certificates)
    payee_kind: str | None = None  # worker | enterprise | institution (payees.py)
    payee_ref: str | None = None  # person_key or GB 32100 credit code; None when unknown

    @property
    def holds_slot(self) -> bool:
        """Approved or pending review: both hold a 十三 slot so a review can still approve."""
        return self.outcome in (APPROVED, NEEDS_REVIEW)

    @property
    def explanation_zh(self) -> str:
        return explain_zh(self)

    @property
    def explanation_en(self) -> str:
        return explain_en(self)


def explain_zh(d: Decision) -> str:
    title = CLAUSE_TITLES.get(d.clause, ("", ""))[0]
    head = {
        APPROVED: f"依据第{d.clause}项（{title}），核准补贴{fen_to_yuan(d.amount_fen)}元。",
        REJECTED: f"依据第{d.clause}项（{title}），不予补贴。",
        NEEDS_REVIEW: f"第{d.clause}项（{title}）需人工审核，"
        f"拟定金额{fen_to_yuan(d.amount_fen)}元。",
        REVERSED: f"撤销第{d.clause}项（{title}）补贴，冲回{fen_to_yuan(-d.amount_fen)}元。",
        PENDING: f"第{d.clause}项（{title}）待补充持证人信息后审核。",
    }[d.outcome]
    steps = "".join(f"{s.description_zh}：{s.value}；" for s in d.steps)
    reasons = "".join(f"{r.zh}。" for r in d.reasons)
    cited = "、".join(d.clauses_cited)
    others = "".join(f"另审查第{c.clause}项（{CLAUSE_TITLES.get(c.clause, ('', ''))[0]}）：{_OUTCOME_ZH[c.outcome]}"
                     f"{fen_to_yuan(c.amount_fen) + '元' if c.amount_fen else ''}"
                     f"{'，' + '；'.join(r.zh for r in c.reasons) if c.reasons else ''}。" for c in d.considered)
    return f"{head}{('计算：' + steps) if steps else ''}{reasons}{others}适用条款：{cited}。"


_OUTCOME_ZH = {APPROVED: "可予补贴", REJECTED: "不予补贴", NEEDS_REVIEW: "需人工审核", REVERSED: "冲回",
               PENDING: "待补充信息"}


def explain_en(d: Decision) -> str:
    title = CLAUSE_TITLES.get(d.clause, ("", ""))[1]
    head = {
        APPROVED: f"Clause {d.clause} ({title}): approved, {fen_to_yuan(d.amount_fen)} yuan.",
        REJECTED: f"Clause {d.clause} ({title}): rejected.",
        NEEDS_REVIEW: f"Clause {d.clause} ({title}): needs human review; proposed "
        f"{fen_to_yuan(d.amount_fen)} yuan.",
        REVERSED: f"Clause {d.clause} ({title}): reversed, {fen_to_yuan(d.amount_fen)} yuan.",
        PENDING: f"Clause {d.clause} ({title}): pending, waiting for the holder's facts.",
    }[d.outcome]
    steps = " ".join(f"{_cap(s.description_en)}: {s.value}." for s in d.steps)
    reasons = " ".join(f"{_cap(r.en)}." for r in d.reasons)
    others = " ".join(f"Also considered {c.clause} ({CLAUSE_TITLES.get(c.clause, ('', ''))[1]}): "
                      f"{c.outcome.replace('_', ' ')}{_yuan_en(c.amount_fen)}"
                      f"{': ' + '; '.join(r.en for r in c.reasons) if c.reasons else ''}."
                      for c in d.considered)
    parts = [head, steps, reasons, others, f"Clauses applied: {', '.join(d.clauses_cited)}."]
    return " ".join(p for p in parts if p)


def _yuan_en(fen: int) -> str:
    return f", {fen_to_yuan(fen)} yuan" if fen else ""


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
