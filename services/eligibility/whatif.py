"""What-if: re-decide a period under changed parameters, touching nothing, and sum the change.

Both runs decide each person's certificates in arrival order with priors carried forward, through
the same pure `decide_certificate` the service uses, so the caps of 十三.1 act as they would.
Decisions are deterministic in their inputs, so a person whose base decisions (and the clauses they
considered) read no parameter that differs between the two sets gets the same decisions under the
changed set: only the others are re-run. That keeps a 305,000-certificate what-if within seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .catalog import CatalogView
from .choice import decide_certificate
from .decision import APPROVED, NEEDS_REVIEW, Decision
from .facts import CertificateFacts, PersonFacts
from .limits import PriorApprovals
from .params import ParameterSet
from .rules import CLAUSE_KEYS

Tally = dict[tuple[str, str], list[int]]  # (clause, district) -> [approved, fen, review]
_EMPTY_PRIOR = PriorApprovals()


@dataclass(frozen=True, slots=True)
class WhatIfCase:
    """One certificate to re-decide, with the holder's facts and the district it counts in."""

    cert: CertificateFacts
    person: PersonFacts
    district: str


@dataclass(frozen=True, slots=True)
class WhatIfRow:
    """Approved count and money (and pending reviews) for one clause and district, both runs."""

    clause: str
    district: str
    base_count: int
    changed_count: int
    base_fen: int
    changed_fen: int
    base_review: int
    changed_review: int

    @property
    def count_delta(self) -> int:
        return self.changed_count - self.base_count

    @property
    def fen_delta(self) -> int:
        return self.changed_fen - self.base_fen


@dataclass(frozen=True, slots=True)
class WhatIfSummary:
    """The change by clause and district; `persons_rerun` shows how much the shortcut saved."""

    rows: tuple[WhatIfRow, ...]
    changed_keys: frozenset[str]
    cases: int
    persons: int
    persons_rerun: int

    @property
    def count_delta(self) -> int:
        return sum(r.count_delta for r in self.rows)

    @property
    def fen_delta(self) -> int:
        return sum(r.fen_delta for r in self.rows)


def affected_clauses(changed_keys: frozenset[str]) -> frozenset[str]:
    """Clauses that read at least one changed parameter (all of them when the period changes)."""
    if changed_keys & {"plan.period_from", "plan.period_to"}:
        return frozenset(CLAUSE_KEYS)
    return frozenset(c for c, keys in CLAUSE_KEYS.items() if changed_keys.intersection(keys))


def by_person(cases: Iterable[WhatIfCase]) -> dict[str, list[WhatIfCase]]:
    """Cases grouped by person, each group in the order given."""
    groups: dict[str, list[WhatIfCase]] = defaultdict(list)
    for case in cases:
        groups[case.person.person_id].append(case)
    return groups


def _run(
    cases: list[WhatIfCase], catalog: CatalogView, params: ParameterSet, prior: PriorApprovals
) -> list[tuple[str, Decision]]:
    if len(cases) == 1:  # most people: one certificate in the period, no priors to carry
        case = cases[0]
        return [(case.district, decide_certificate(case.cert, case.person, catalog, params, prior))]
    out = []
    for case in cases:
        d = decide_certificate(case.cert, case.person, catalog, params, prior)
        out.append((case.district, d))
        prior = prior.add(d)
    return out


def _tally(tally: Tally, decided: list[tuple[str, Decision]]) -> None:
    for district, d in decided:
        outcome = d.outcome
        if outcome == APPROVED:
            cell = tally[(d.clause, district)]
            cell[0] += 1
            cell[1] += d.amount_fen
        elif outcome == NEEDS_REVIEW:
            tally[(d.clause, district)][2] += 1


def what_if(
    cases: Iterable[WhatIfCase], params_base: ParameterSet, params_changed: ParameterSet,
    *, catalog: CatalogView, priors: Mapping[str, PriorApprovals] | None = None,
) -> WhatIfSummary:
    """Change in approvals and money by clause and district between two parameter sets."""
    groups = list(by_person(cases).values())
    return what_if_groups(groups, params_base, params_changed, catalog=catalog, priors=priors)


def what_if_groups(
    groups: Iterable[list[WhatIfCase]], params_base: ParameterSet, params_changed: ParameterSet,
    *, catalog: CatalogView, priors: Mapping[str, PriorApprovals] | None = None,
) -> WhatIfSummary:
    """`what_if` over cases already grouped by person (each list in decision order)."""
    changed_keys = params_base.differing_keys(params_changed)
    affected = affected_clauses(changed_keys)
    base: Tally = defaultdict(lambda: [0, 0, 0])
    changed: Tally = defaultdict(lambda: [0, 0, 0])
    persons = rerun = count = 0
    for person_cases in groups:
        person_id = person_cases[0].person.person_id
        prior = priors.get(person_id, _EMPTY_PRIOR) if priors else _EMPTY_PRIOR
        decided = _run(person_cases, catalog, params_base, prior)
        persons, count = persons + 1, count + len(person_cases)
        _tally(base, decided)
        if any(d.clause in affected or any(c.clause in affected for c in d.considered) for _, d in decided):
            rerun += 1
            decided = _run(person_cases, catalog, params_changed, prior)
        _tally(changed, decided)
    return WhatIfSummary(_rows(base, changed), changed_keys, count, persons, rerun)


def _rows(base: Tally, changed: Tally) -> tuple[WhatIfRow, ...]:
    zero = [0, 0, 0]
    keys = sorted(set(base) | set(changed))
    return tuple(
        WhatIfRow(clause, district, b[0], c[0], b[1], c[1], b[2], c[2])
        for clause, district in keys
        for b, c in [(base.get((clause, district), zero), changed.get((clause, district), zero))]
    )


def merge(summaries: Iterable[WhatIfSummary]) -> WhatIfSummary:
    """Add summaries of disjoint sets of persons (for running shards in parallel)."""
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 6)
    parts = list(summaries)
    for s in parts:
        for r in s.rows:
            cell = cells[(r.clause, r.district)]
            for i, v in enumerate((r.base_count, r.changed_count, r.base_fen, r.changed_fen,
                                   r.base_review, r.changed_review)):
                cell[i] += v
    rows = tuple(WhatIfRow(k[0], k[1], *v) for k, v in sorted(cells.items()))
    keys = frozenset().union(*(s.changed_keys for s in parts)) if parts else frozenset()
    return WhatIfSummary(rows, keys, sum(s.cases for s in parts), sum(s.persons for s in parts),
                         sum(s.persons_rerun for s in parts))
