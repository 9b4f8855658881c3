"""Builders for eligibility unit tests: a small example Catalog and plain people."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from services.eligibility import facts as f
from services.eligibility.domain import Decision, PriorApprovals, decide
from services.eligibility.facts import CatalogStandard, catalog_from_lines
from services.eligibility.params import ParameterSet, default_parameters

D = dt.date
LATHE = "6-18-01-01"  # 车工, on the 2020 shortage list below
WELDER = "6-18-02-04"  # 焊工, never on the shortage list
ABILITY = "S-0001"  # a special-ability line (no level)
PARAMS: ParameterSet = default_parameters()


def _lines(occ: str) -> list[CatalogStandard]:
    std = {5: (100000, 15000), 4: (120000, 20000), 3: (150000, 26000),
           2: (300000, 50000), 1: (400000, 65000)}
    return [CatalogStandard(occ, lvl, t, a, D(2019, 1, 1), None, "example") for lvl, (t, a)
            in std.items()]


CATALOG = catalog_from_lines(
    _lines(LATHE) + _lines(WELDER) + [CatalogStandard(ABILITY, None, 80000, 0, D(2019, 1, 1),
                                                      None, "example")],
    shortage_by_year={2020: frozenset({LATHE}), 2021: frozenset({LATHE})},
    provincial_by_year={2020: frozenset({WELDER})},
)


def cert(**kw: Any) -> f.CertificateFacts:
    base: dict[str, Any] = dict(certificate_id="c1", number="Y0000000000000004000001",
                                kind=f.SKILL_LEVEL, occupation_code=WELDER, level=4,
                                issue_date=D(2020, 6, 1))
    base.update(kw)
    return f.CertificateFacts(**base)


def worker(**kw: Any) -> f.PersonFacts:
    """An employed worker with a 3-year contract and 24 months of UI contributions."""
    base: dict[str, Any] = dict(person_id="p1", as_of=D(2020, 6, 1), employed=True,
                                employer_id="e1", hire_date=D(2018, 1, 1), contract_months=36,
                                ui_contribution_months=24, pension_contribution_months=24,
                                pension_insured_in_nantong=True)
    base.update(kw)
    return f.PersonFacts(**base)


def unemployed(**kw: Any) -> f.PersonFacts:
    base: dict[str, Any] = dict(person_id="p1", as_of=D(2020, 6, 1), registered_unemployed=True)
    base.update(kw)
    return f.PersonFacts(**base)


def one(c: f.CertificateFacts, p: f.PersonFacts, prior: PriorApprovals | None = None,
        params: ParameterSet = PARAMS) -> Decision:
    decisions = decide(c, p, CATALOG, params, prior or PriorApprovals())
    assert len(decisions) == 1
    return decisions[0]


def codes(d: Decision) -> set[str]:
    return {r.code for r in d.reasons}


__all__ = [
    "ABILITY",
    "CATALOG",
    "LATHE",
    "PARAMS",
    "WELDER",
    "D",
    "cert",
    "codes",
    "one",
    "replace",
    "unemployed",
    "worker",
]
