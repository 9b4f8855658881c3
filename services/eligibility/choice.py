"""One certificate, one training subsidy: every clause it matches, the most favourable applied. Pure.

A certificate is tested against every clause whose trigger it matches (its kind and level). The
worker gets the most favourable outcome, and the decision lists each other clause considered with
why it did not apply. `primary` is the clause the records point to (training evidence, then the
person's status): it is tested in full, is shown when none applies and wins a tie. Another clause
that fails a first condition (a gate) is listed with that reason alone; "why it did not apply"
needs one, and most certificates fail the other clauses' first condition, which keeps the step
cheap. `judge` adds 十三.1–十三.3 and the plan period to what a clause found.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from . import facts as f
from . import reasons as rs
from .catalog import CatalogView
from .decision import APPROVED, NEEDS_REVIEW, REJECTED, Considered, Decision, Reason
from .facts import CertificateFacts, PersonFacts
from .limits import CAP_CLAUSES, OCCUPATION_CLAUSES, PriorApprovals, cap_reasons
from .params import ParameterSet, ParamView
from .payees import payee
from .rules import (
    CATALOG_CLAUSES,
    CLAUSE_KEYS,
    CLAUSES,
    HIGH_SKILL_LEVELS,
    NANTONG_ONLY_KINDS,
    NO_AMOUNT,
    NO_MONTHS,
    NOTE_CODES,
    REVIEW_CODES,
    SHORTAGE_CLAUSES,
    Ctx,
    add_months,
    project_of,
)

EVIDENCE_POINTS_TO = ((frozenset({f.PRE_JOB}), "四.2"), (f.ON_THE_JOB_TRAININGS, "四.3"),
                      (frozenset({f.UNEMPLOYED_TRAINING}), "五.2"), (frozenset({f.UPGRADING}), "四.4"))


@lru_cache(maxsize=64)
def matching(kind: str, level: int | None) -> tuple[str, ...]:
    """The clauses whose trigger a certificate of this kind and level matches."""
    if kind in f.SAFETY_KINDS:
        return ("六",)
    if kind == f.ENTREPRENEURSHIP:
        return ("五.4",)
    if kind == f.DEGREE:
        return ("四.5b",)
    if kind in f.LEVELLED_KINDS and level in HIGH_SKILL_LEVELS:
        return ("四.5a", "四.2", "四.3", "五.2")
    if kind in f.LEVELLED_KINDS:
        return ("四.2", "四.3", "四.4", "五.2")
    return ("四.2", "四.3", "五.2")


def primary(cert: CertificateFacts, person: PersonFacts, clauses: tuple[str, ...],
            evidence: frozenset[str] | None = None) -> str:
    """The clause the records point to: the training evidence first, then the person's status."""
    if len(clauses) == 1:
        return clauses[0]
    evidence = cert.training_evidence if evidence is None else evidence
    if evidence:
        for kinds, clause in EVIDENCE_POINTS_TO:
            if evidence & kinds and clause in clauses:
                return clause
    if not person.employed:
        return "五.2"
    for clause in ("四.5a", "四.4", "四.3"):
        if clause in clauses:
            return clause
    return clauses[0]


def repeat_key(cert: CertificateFacts, code: str | None) -> str | None:
    """十三.1 "同一职业同一等级": occupation (2022 edition) and level where the certificate has both;
    otherwise the kind's own identity. None when nothing identifies it."""
    if code is not None:
        return f"{code}#{cert.level if cert.level is not None else cert.kind}"
    if cert.kind in f.SAFETY_KINDS:
        return f"{cert.kind}:{cert.operation_category or '-'}:{cert.operation_item}" if cert.operation_item else None
    if cert.kind == f.ENTREPRENEURSHIP:
        project = project_of(cert)
        return f"{cert.kind}:{project}" if project else None
    if cert.kind == f.DEGREE:
        return f"{cert.kind}:{cert.number}"
    return None


@lru_cache(maxsize=256)
def cited(clause: str, kind: str) -> tuple[str, ...]:
    """Every clause id applied: the clause, its exclusions and the limits of 十三 it checked."""
    ids = [clause]
    if clause == "四.2":
        ids.append("五.3")
    if clause in CAP_CLAUSES or clause in OCCUPATION_CLAUSES:
        ids.append("十三.1")
    if kind in NANTONG_ONLY_KINDS:
        ids.append("十三.2")
    ids.append("十三.3")
    return tuple(ids)


_IN_SCOPE: list[Reason] = []  # shared and never mutated: judge() builds new lists from it


def _scope(c: Ctx) -> list[Reason]:
    """十三.2 where the kind must be obtained in Nantong, 十三.3 pension, and the plan period."""
    p = c.person
    elsewhere = c.cert.kind in NANTONG_ONLY_KINDS and c.cert.issued_in_nantong is not True
    if not (c.outside or p.drawing_monthly_pension or p.pension_entitled or elsewhere):
        return _IN_SCOPE
    found = [rs.OUTSIDE_PLAN_PERIOD] if c.outside else []
    if elsewhere:
        found.append(rs.ISSUE_PLACE_UNKNOWN if c.cert.issued_in_nantong is None else rs.NOT_OBTAINED_IN_NANTONG)
    if c.person.drawing_monthly_pension:
        found.append(rs.PENSION_DRAWER)
    elif c.person.pension_entitled:
        found.append(rs.PENSION_ENTITLED)
    return found


def clause_versions(view: ParamView, clause: str) -> tuple[tuple[str, str], ...] | None:
    """The (key, version) pairs a clause reads on the view's day (memoised by clause id)."""
    memo = view.memo
    if clause not in memo:
        memo[clause] = view.versions_of(CLAUSE_KEYS[clause])
    return memo[clause]  # type: ignore[no-any-return]


def _gate_4_2(c: Ctx) -> Reason | None:
    p = c.person
    if not p.employed:
        return rs.NOT_EMPLOYED
    start = c.cert.started
    if start is None or p.hire_date is None:
        return rs.NO_TRAINING_START
    if not p.hire_date <= start < add_months(p.hire_date, c.view.get("四.2.training_within_months")):
        return rs.TRAINING_NOT_WITHIN_HIRE_WINDOW
    return None


def _gate_4_3(c: Ctx) -> Reason | None:
    if not c.person.employed:
        return rs.NOT_EMPLOYED
    return None if c.evidence & f.ON_THE_JOB_TRAININGS else rs.NOT_ON_THE_JOB_TRAINING


def _gate_4_4(c: Ctx) -> Reason | None:
    if not c.person.employed:
        return rs.NOT_EMPLOYED
    return rs.UI_MONTHS_SHORT if c.person.ui_contribution_months < c.view.get("四.4.min_ui_months") else None


def _gate_employed(c: Ctx) -> Reason | None:
    return None if c.person.employed else rs.NOT_EMPLOYED


def _gate_5_2(c: Ctx) -> Reason | None:
    p = c.person
    return rs.NOT_REGISTERED_UNEMPLOYED if p.employed and not p.registered_unemployed else None


# A clause that is not the primary one and fails a first condition is listed with that reason alone
# ("why it did not apply" needs one); most certificates fail the other clauses' first condition, so
# the full test runs for the primary clause and for those that might apply.
GATES: dict[str, Callable[[Ctx], Reason | None]] = {
    "四.2": _gate_4_2, "四.3": _gate_4_3, "四.4": _gate_4_4, "四.5a": _gate_employed, "五.2": _gate_5_2,
}
_GATED: dict[tuple[str, str], Considered] = {}


def _gated(clause: str, reason: Reason, scope: list[Reason]) -> Considered:
    if scope:
        return Considered(clause, REJECTED, 0, (*scope, reason))
    found = _GATED.get((clause, reason.code))
    if found is None:
        found = _GATED[(clause, reason.code)] = Considered(clause, REJECTED, 0, (reason,))
    return found


def judge(c: Ctx, clause: str, key: str | None, scope: list[Reason]) -> Considered:
    """Apply the clause, then 十三 and the plan period (`scope`, the same for every clause)."""
    if clause_versions(c.view, clause) is None:
        return Considered(clause, REJECTED, 0, (rs.NO_PARAMETERS,))
    found, amount = CLAUSES[clause](c)
    if key is None and clause in OCCUPATION_CLAUSES:
        found = [*found, rs.REPEAT_KEY_UNKNOWN]
    blocking, notes, review = list(scope), [], False
    for r in found:  # one pass, no comprehension frames: this runs for every clause tested
        code = r.code
        if code in NOTE_CODES:
            notes.append(r)
        elif code in REVIEW_CODES:
            review = True
        else:
            blocking.append(r)
    prior = c.prior
    if not blocking and (prior.cap_count_by_year or prior.occupation_keys):
        blocking.extend(cap_reasons(clause, c.cert.issue_date.year, key, c.view, prior))
    if blocking:
        return Considered(clause, REJECTED, 0, tuple(blocking + notes))
    amount = amount or NO_AMOUNT
    return Considered(clause, NEEDS_REVIEW if review else APPROVED, amount.fen, tuple(found), amount.steps)


def decide_certificate(cert: CertificateFacts, person: PersonFacts, catalog: CatalogView,
                       params: ParameterSet, prior: PriorApprovals) -> Decision:
    """The one training subsidy a certificate gets: every matching clause tested, the most
    favourable applied, the others listed; the parameters in force on the issue date."""
    day = cert.issue_date
    start, end = params.period
    outside = not start <= day <= end
    c = Ctx(cert, person, catalog, params.at(min(max(day, start), end) if outside else day), prior, outside)
    key = repeat_key(cert, c.code)
    clauses = matching(cert.kind, cert.level)
    scope = _scope(c)
    first = clauses[0] if len(clauses) == 1 else primary(cert, person, clauses, c.evidence)
    results: list[Considered] = []
    for clause, gate in _plan(clauses, first):
        if gate is not None:
            reason = gate(c)
            if reason is not None:
                gated = None if scope else _GATED.get((clause, reason.code))
                results.append(gated or _gated(clause, reason, scope))
                continue
        results.append(judge(c, clause, key, scope))
    if len(results) == 1:
        return build(c, results[0], key, (), params)
    i = choose(results, first)
    return build(c, results[i], key, tuple(results[:i] + results[i + 1:]), params)


@lru_cache(maxsize=256)
def _plan(clauses: tuple[str, ...], first: str) -> tuple[tuple[str, Callable[[Ctx], Reason | None] | None], ...]:
    """Each clause with the gate it passes first (none for the primary clause: tested in full)."""
    return tuple((clause, None if clause == first else GATES.get(clause)) for clause in clauses)


def build(c: Ctx, j: Considered, key: str | None, considered: tuple[Considered, ...],
          params: ParameterSet) -> Decision:
    """The decision for the clause applied: its versions, references, limits and payee."""
    clause, cert = j.clause, c.cert
    kind, ref = payee(clause, c.view, c.person, cert.training_class)
    versions = clause_versions(c.view, clause) or ()
    std = c.std() if clause in CATALOG_CLAUSES else None
    return Decision(
        clause, j.outcome, j.amount_fen, j.reasons, j.steps, cited(clause, cert.kind),
        versions + params.period_versions() if c.outside else versions, cert.certificate_id,
        cert.issue_date.year, key if clause in OCCUPATION_CLAUSES else None, clause in CAP_CLAUSES,
        c.person.hire_key if clause == "四.2" else None, NO_MONTHS, None, std.ref if std is not None else None,
        c.shortage()[1] if clause in SHORTAGE_CLAUSES else None, considered, kind, ref)


_RANK = {APPROVED: 2, NEEDS_REVIEW: 1}


def choose(results: list[Considered], first: str) -> int:
    """The index of the most favourable: approved over review over rejection, then the larger
    amount, then the primary clause, then the table order; a rejection shown is the primary's."""
    best, best_score = -1, (0, 0, False)
    for i, r in enumerate(results):
        if r.outcome == REJECTED:
            continue
        score = (_RANK[r.outcome], r.amount_fen, r.clause == first)
        if best < 0 or score > best_score:
            best, best_score = i, score
    if best >= 0:
        return best
    for i, r in enumerate(results):
        if r.clause == first:
            return i
    return 0
