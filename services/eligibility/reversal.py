"""Reversals: a revoked certificate reverses every subsidy it triggered (negative amounts). Pure."""

from __future__ import annotations

from collections.abc import Iterable

from shared.money import fen_to_yuan

from . import reasons as rs
from .decision import REVERSED, Decision, Step


def reverse(decisions: Iterable[Decision]) -> list[Decision]:
    """Reversals for every approved or pending decision not yet reversed."""
    decisions = list(decisions)
    done = {(d.clause, d.subject_id) for d in decisions if d.outcome == REVERSED}
    return [_reversal(d) for d in decisions if d.holds_slot and (d.clause, d.subject_id) not in done]


def _reversal(d: Decision) -> Decision:
    step = Step("冲回原核准金额", "reverses the amount granted", fen_to_yuan(-d.amount_fen))
    return Decision(
        clause=d.clause, outcome=REVERSED, amount_fen=-d.amount_fen, reasons=(rs.REVOKED,),
        steps=(step,), clauses_cited=d.clauses_cited, parameter_versions=d.parameter_versions,
        subject_id=d.subject_id, year=d.year, occupation_key=d.occupation_key,
        counts_toward_cap=d.counts_toward_cap, hire_key=d.hire_key, months=-d.months,
        reverses_clause_of=d.subject_id, payee_kind=d.payee_kind, payee_ref=d.payee_ref,
    )
