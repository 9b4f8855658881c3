"""Eligibility domain, the public face: decide, reverse, and the non-certificate triggers.

Pure functions over frozen values (no I/O). The service builds the facts from its own projection,
calls `decide` once per certificate with the person's prior approvals, stores what it returns,
and folds each decision into the priors with `PriorApprovals.add` before deciding the next.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.money import fen_to_yuan

from . import reasons as rs
from .decision import (
    APPROVED,
    NEEDS_REVIEW,
    OUTCOMES,
    REJECTED,
    REVERSED,
    Decision,
    Reason,
    Step,
)
from .facts import CatalogView, CertificateFacts, PersonFacts
from .limits import PriorApproval, PriorApprovals, advance_fen
from .params import ParameterSet
from .rules import CLAUSE_KEYS, CLAUSES, Ctx, cited, finish, route
from .triggers import (
    TRIGGER_KEYS,
    decide_apprentice_year,
    decide_living_allowance,
    decide_order_class,
    decide_work_training,
)


def decide(
    cert: CertificateFacts, person: PersonFacts, catalog: CatalogView,
    params: ParameterSet, prior: PriorApprovals,
) -> list[Decision]:
    """One decision per applicable clause, with parameters in force on the issue date."""
    return [decide_one(cert, person, catalog, params, prior)]


def decide_one(
    cert: CertificateFacts, person: PersonFacts, catalog: CatalogView,
    params: ParameterSet, prior: PriorApprovals,
) -> Decision:
    """The decision for the one clause `route` picks (what `decide` wraps in a list)."""
    clause = route(cert, person)
    view = params.at(cert.issue_date)
    if view.versions_of(CLAUSE_KEYS[clause]) is None:
        return _no_parameters(cert, clause)
    ctx = Ctx(cert, person, catalog, view, prior)
    found, amount = CLAUSES[clause](ctx)
    return finish(ctx, clause, found, amount)


def _no_parameters(cert: CertificateFacts, clause: str) -> Decision:
    return Decision(
        clause=clause, outcome=REJECTED, amount_fen=0, reasons=(rs.NO_PARAMETERS,), steps=(),
        clauses_cited=cited(clause, cert), parameter_versions=(),
        subject_id=cert.certificate_id, year=cert.issue_date.year,
    )


def decide_sequence(
    certs: Iterable[CertificateFacts], person: PersonFacts, catalog: CatalogView,
    params: ParameterSet, prior: PriorApprovals,
) -> tuple[list[Decision], PriorApprovals]:
    """Decide certificates in the order given, carrying the priors forward."""
    out: list[Decision] = []
    for cert in certs:
        for d in decide(cert, person, catalog, params, prior):
            out.append(d)
            prior = prior.add(d)
    return out, prior


def reverse(decisions: Iterable[Decision]) -> list[Decision]:
    """Reversals (negative amounts) for every approved or pending decision not yet reversed."""
    decisions = list(decisions)
    done = {(d.clause, d.subject_id) for d in decisions if d.outcome == REVERSED}
    return [_reversal(d) for d in decisions
            if d.holds_slot and (d.clause, d.subject_id) not in done]


def _reversal(d: Decision) -> Decision:
    step = Step("冲回原核准金额", "reverses the amount granted", fen_to_yuan(-d.amount_fen))
    return Decision(
        clause=d.clause, outcome=REVERSED, amount_fen=-d.amount_fen, reasons=(rs.REVOKED,),
        steps=(step,), clauses_cited=d.clauses_cited, parameter_versions=d.parameter_versions,
        subject_id=d.subject_id, year=d.year, occupation_key=d.occupation_key,
        counts_toward_cap=d.counts_toward_cap, hire_key=d.hire_key, months=-d.months,
        reverses_clause_of=d.subject_id,
    )


__all__ = [
    "APPROVED",
    "CLAUSE_KEYS",
    "NEEDS_REVIEW",
    "OUTCOMES",
    "REJECTED",
    "REVERSED",
    "TRIGGER_KEYS",
    "CatalogView",
    "CertificateFacts",
    "Decision",
    "PersonFacts",
    "PriorApproval",
    "PriorApprovals",
    "Reason",
    "Step",
    "advance_fen",
    "decide",
    "decide_apprentice_year",
    "decide_living_allowance",
    "decide_one",
    "decide_order_class",
    "decide_sequence",
    "decide_work_training",
    "reverse",
    "route",
]
