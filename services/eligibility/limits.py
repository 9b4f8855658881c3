"""Person-level limits of 十三 and the mutual exclusions, over the person's prior approvals.

`PriorApprovals` is an immutable summary of what a person already holds (approved or pending
review). `add` folds a new decision in; `person.decide_person` carries it through the person's
triggers in arrival order, the slots already held first (docs/policy.md, "the cap").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType

from . import reasons as rs
from .decision import Decision, Reason
from .params import ParamView

# 十三.1 reading (RULES.md): the yearly cap counts these clauses.
CAP_CLAUSES = frozenset({"四.2", "四.3", "四.4", "五.2", "五.4", "六"})
# 十三.1 "同一职业同一等级不可重复享受" applies to every certificate-level subsidy.
OCCUPATION_CLAUSES = CAP_CLAUSES | {"四.5a"}
_EMPTY: Mapping[int, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PriorApproval:
    """One subsidy a person already holds, as the service stores it."""

    clause: str
    year: int
    occupation_key: str | None = None  # the repeat key (rules.repeat_key)
    hire_key: str | None = None
    months: Fraction = Fraction(0)
    subject_id: str = ""


@dataclass(frozen=True, slots=True)
class PriorApprovals:
    """What a person already holds; indices kept ready so a decision reads them in O(1)."""

    cap_count_by_year: Mapping[int, int] = field(default_factory=lambda: _EMPTY)
    occupation_keys: frozenset[str] = frozenset()
    degree_reward_received: bool = False
    work_training_months: Fraction = Fraction(0)
    pre_job_hires: frozenset[str] = frozenset()
    work_training_hires: frozenset[str] = frozenset()
    subjects: frozenset[tuple[str, str]] = frozenset()  # (clause, subject id)

    @classmethod
    def from_approvals(cls, approvals: Iterable[PriorApproval]) -> PriorApprovals:
        prior = cls()
        for a in approvals:
            prior = prior.add_approval(a)
        return prior

    def add(self, decision: Decision) -> PriorApprovals:
        """Fold a decision in: holding ones take a slot, reversals give theirs back."""
        if decision.outcome == "reversed":
            return self._remove(decision)
        if not decision.holds_slot:
            return self
        return self.add_approval(_as_approval(decision))

    def add_approval(self, a: PriorApproval) -> PriorApprovals:
        # Built field by field (not dataclasses.replace): this runs once per decision.
        clause, years = a.clause, self.cap_count_by_year
        if clause in CAP_CLAUSES:
            counted = dict(years)
            counted[a.year] = counted.get(a.year, 0) + 1
            years = MappingProxyType(counted)
        return PriorApprovals(
            years,
            _with(self.occupation_keys, a.occupation_key, clause),
            self.degree_reward_received or clause == "四.5b",
            self.work_training_months + a.months if clause == "五.3" else self.work_training_months,
            _with_hire(self.pre_job_hires, a, "四.2"),
            _with_hire(self.work_training_hires, a, "五.3"),
            self.subjects | {(clause, a.subject_id)},
        )

    def _remove(self, d: Decision) -> PriorApprovals:
        years = dict(self.cap_count_by_year)
        if d.clause in CAP_CLAUSES and years.get(d.year, 0) > 0:
            years[d.year] -= 1
        keys = self.occupation_keys - {d.occupation_key} if d.occupation_key else None
        return replace(
            self,
            cap_count_by_year=MappingProxyType(years),
            occupation_keys=self.occupation_keys if keys is None else frozenset(keys),
            degree_reward_received=self.degree_reward_received and d.clause != "四.5b",
            work_training_months=self.work_training_months + (d.months if d.clause == "五.3" else 0),
            pre_job_hires=self.pre_job_hires - {d.hire_key} if d.clause == "四.2" else self.pre_job_hires,
            work_training_hires=self.work_training_hires,
            subjects=self.subjects - {(d.clause, d.subject_id)},
        )

    def count_in_year(self, year: int) -> int:
        return self.cap_count_by_year.get(year, 0)


def _as_approval(d: Decision) -> PriorApproval:
    return PriorApproval(d.clause, d.year, d.occupation_key, d.hire_key, d.months, d.subject_id)


def _with(keys: frozenset[str], key: str | None, clause: str) -> frozenset[str]:
    if key is None or clause not in OCCUPATION_CLAUSES:
        return keys
    return keys | {key}


def _with_hire(hires: frozenset[str], a: PriorApproval, clause: str) -> frozenset[str]:
    return hires | {a.hire_key} if a.clause == clause and a.hire_key else hires


def cap_reasons(
    clause: str, year: int, occupation_key: str | None, view: ParamView, prior: PriorApprovals,
) -> tuple[Reason, ...]:
    """十三.1: at most N per calendar year; never twice for the same occupation and level."""
    found: list[Reason] = []
    if occupation_key is not None and clause in OCCUPATION_CLAUSES and occupation_key in prior.occupation_keys:
        found.append(rs.SAME_OCCUPATION_LEVEL)
    if clause in CAP_CLAUSES and prior.count_in_year(year) >= view.get("十三.1.per_year_cap"):
        found.append(rs.YEAR_CAP_REACHED)
    return tuple(found)


def remaining_work_training_months(view: ParamView, prior: PriorApprovals) -> Fraction:
    """五.3 "最长不超过6个月", counted over all employers."""
    return max(Fraction(0), Fraction(view.get("五.3.max_months")) - prior.work_training_months)
