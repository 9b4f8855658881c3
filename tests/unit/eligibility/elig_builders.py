"""Builders for eligibility unit tests: a small example Catalog and plain people, with identifiers
shaped as production sends them (certificate ids are UUIDs, numbers Y + 21 digits with the level
at character 16, person keys 64-hex HMACs, employers GB 32100 credit codes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Any

from services.eligibility import facts as f
from services.eligibility.catalog import CatalogLine, EditionMap, YearList, catalog_view
from services.eligibility.domain import Decision, PriorApprovals, decide_certificate
from services.eligibility.params import ParameterSet, default_parameters

D = dt.date
LATHE = "6-18-01-01"  # 车工, on the 2020 and 2021 shortage lists below
WELDER = "6-18-02-04"  # 焊工, never on the shortage list; on the 2020 provincial list
ABILITY = "4-10-01-05"  # a special-ability line (no level)
EMPLOYER = "91320612MA1N00001G"  # registered in 通州区 (characters 3-8: 320612)
INSTITUTION = "52320613MJ0000003P"  # a training and evaluation institution in 崇川区
ENTERPRISE = "91320612MA1NT0001R"
PARAMS: ParameterSet = default_parameters()
PUBLISHED = dt.datetime(2019, 12, 31, tzinfo=dt.UTC)


def pk(label: str) -> str:
    return hashlib.sha256(f"unit:{label}".encode()).hexdigest()


def cert_id(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"unit-cert:{label}"))


def skill_number(level: int | None, seq: int = 1) -> str:
    return f"Y{seq:014d}{level or 0}{seq:06d}"


def _lines(occ: str) -> list[CatalogLine]:
    std = {5: (100000, 15000), 4: (120000, 20000), 3: (150000, 26000),
           2: (300000, 50000), 1: (400000, 65000)}
    return [CatalogLine(occ, lvl, t, a, D(2019, 1, 1), None, "example-2019.1", "2015", PUBLISHED)
            for lvl, (t, a) in std.items()]


def year_list(version: str, *codes: str) -> YearList:
    return YearList(version, frozenset(codes), PUBLISHED)


CATALOG = catalog_view(
    _lines(LATHE) + _lines(WELDER) + [CatalogLine(ABILITY, None, 80000, 0, D(2019, 1, 1), None, "example-2019.1",
                                                  "2015", PUBLISHED)],
    [("market", 2020, year_list("shortage-2020.1", LATHE)), ("market", 2021, year_list("shortage-2021.1", LATHE)),
     ("provincial_high_skill", 2020, year_list("provincial-2020.1", WELDER))],
    EditionMap({}, "none"),
)


def course(kind: str = "unemployed", **kw: Any) -> f.TrainingClass:
    """A registry class record: 80 required hours unless said otherwise."""
    base: dict[str, Any] = dict(class_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"unit-class:{kind}")), kind=kind,
                                institution_code=INSTITUTION, start_date=D(2020, 3, 1), end_date=D(2020, 4, 30),
                                level=4, required_hours=Decimal(80), district="320612")
    base.update(kw)
    return f.TrainingClass(**base)


def cert(**kw: Any) -> f.CertificateFacts:
    level = kw.get("level", 4)
    base: dict[str, Any] = dict(certificate_id=cert_id("c1"), number=skill_number(level), kind=f.SKILL_LEVEL,
                                occupation_code=WELDER, level=4, issue_date=D(2020, 6, 1),
                                received_on=D(2020, 7, 1), issued_in_nantong=True)
    base.update(kw)
    return f.CertificateFacts(**base)


def worker(**kw: Any) -> f.PersonFacts:
    """An employed worker with a 3-year contract and 24 months of UI contributions."""
    base: dict[str, Any] = dict(person_id=pk("p1"), as_of=D(2020, 6, 1), employed=True,
                                employer_id=EMPLOYER, employer_in_nantong=True, hire_date=D(2018, 1, 1),
                                contract_months=36,
                                ui_contribution_months=24, pension_contribution_months=24,
                                pension_insured_in_nantong=True)
    base.update(kw)
    return f.PersonFacts(**base)


def unemployed(**kw: Any) -> f.PersonFacts:
    base: dict[str, Any] = dict(person_id=pk("p1"), as_of=D(2020, 6, 1), registered_unemployed=True)
    base.update(kw)
    return f.PersonFacts(**base)


def one(c: f.CertificateFacts, p: f.PersonFacts, prior: PriorApprovals | None = None,
        params: ParameterSet = PARAMS, catalog: Any = CATALOG) -> Decision:
    return decide_certificate(c, p, catalog, params, prior or PriorApprovals())


def codes(d: Decision) -> set[str]:
    return {r.code for r in d.reasons}


__all__ = [
    "ABILITY", "CATALOG", "EMPLOYER", "ENTERPRISE", "INSTITUTION", "LATHE", "PARAMS", "PUBLISHED", "WELDER", "D",
    "cert", "cert_id", "codes", "course", "one", "pk", "replace", "skill_number", "unemployed", "worker", "year_list",
]
