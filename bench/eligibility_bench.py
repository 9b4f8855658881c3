"""Eligibility benchmark: decisions/s in process, and a what-if over 305,000 certificates.

Run: .venv/bin/python bench/eligibility_bench.py [--cases 305000] [--seed 7]
The what-if raises the 四.4 shortage uplift 1.3 -> 1.5 from 2020-01-01 (the issue's example).
Synthetic data only: example Catalog values, random people; nothing is read or written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from decimal import Decimal
from fractions import Fraction

from services.eligibility import facts as f
from services.eligibility.catalog import CatalogLine, CatalogView, YearList, catalog_view
from services.eligibility.domain import PriorApprovals, decide_certificate
from services.eligibility.params import default_parameters
from services.eligibility.whatif import WhatIfCase, what_if
from services.eligibility.whatif_parallel import what_if_parallel

DISTRICTS = ("320613", "320612", "320614", "320623", "320681", "320682", "320685", "320671")
EXAMPLE_STD = {5: (100000, 15000), 4: (120000, 20000), 3: (150000, 26000),
               2: (300000, 50000), 1: (400000, 65000)}
START = dt.date(2019, 1, 1)


def synthetic_catalog(occupations: list[str], rng: random.Random) -> CatalogView:
    lines = [
        CatalogLine(occ, lvl, t, a, START, None, "example-2019")
        for occ in occupations for lvl, (t, a) in EXAMPLE_STD.items()
    ]
    lines += [CatalogLine(occ, None, 80000, 0, START, None, "example-2019")
              for occ in occupations[:20]]
    shortage = [("market", y, YearList(f"shortage-{y}", frozenset(rng.sample(occupations, len(occupations) // 5))))
                for y in (2019, 2020, 2021)]
    return catalog_view(lines, shortage)


KINDS = ([f.SKILL_LEVEL] * 5 + [f.VOCATIONAL_QUALIFICATION] * 2 + [f.SPECIAL_ABILITY,
         f.TRAINING_COMPLETION, f.SPECIAL_OPERATIONS, f.SPECIAL_EQUIPMENT, f.SAFETY_MANAGEMENT,
         f.ENTREPRENEURSHIP, f.DEGREE])
TRAININGS = [None, None, None, f.PRE_JOB, f.ON_THE_JOB, f.JOB_TRANSFER]
CLASSES = [f.TrainingClass(f"class-{k}", kind, "52320613MJ0000003P", START, START + dt.timedelta(days=60),
                           required_hours=Decimal(80))
           for k, kind in enumerate(["unemployed", "on_the_job", "pre_job"])]


def synthetic_person(i: int, rng: random.Random, issue: dt.date) -> f.PersonFacts:
    employed = rng.random() < 0.65
    hire = issue - dt.timedelta(days=rng.randrange(30, 2000))
    return f.PersonFacts(
        person_id=f"p{i}", as_of=issue, employed=employed, employer_id=f"e{i % 5000}", employer_in_nantong=employed,
        hire_date=hire if employed else None, contract_months=rng.choice([6, 12, 36, None]),
        ui_contribution_months=rng.randrange(0, 60) if employed else 0,
        pension_contribution_months=rng.randrange(0, 60), pension_insured_in_nantong=employed,
        registered_unemployed=not employed and rng.random() < 0.8,
        student_final_two_years=not employed and rng.random() < 0.2,
        drawing_monthly_pension=rng.random() < 0.01,
    )


def synthetic_cases(n: int, seed: int) -> tuple[list[WhatIfCase], CatalogView]:
    rng = random.Random(seed)
    occupations = [f"6-{a:02d}-{b:02d}-01" for a in range(1, 21) for b in range(1, 11)]
    catalog, cases, persons = synthetic_catalog(occupations, rng), [], n * 4 // 5
    for _ in range(n):
        pid = rng.randrange(persons)
        issue = START + dt.timedelta(days=rng.randrange(3 * 365))
        kind = rng.choice(KINDS)
        level = rng.choice([5, 4, 4, 3, 3, 2, 1]) if kind in (f.SKILL_LEVEL,
                                                            f.VOCATIONAL_QUALIFICATION) else None
        training = rng.choice(TRAININGS)
        project = rng.choice(sorted(f.ENTREPRENEURSHIP_PROJECTS)) if kind == f.ENTREPRENEURSHIP else None
        item = f"{rng.randrange(1, 12)}.{rng.randrange(1, 4)}" if kind in f.SAFETY_KINDS else None
        course = CLASSES[len(cases) % len(CLASSES)] if rng.random() < 0.4 else None
        cert = f.CertificateFacts(
            f"c{len(cases)}", f"N{len(cases)}", kind, rng.choice(occupations), level, issue,
            issued_in_nantong=rng.random() < 0.95,
            training_start=issue - dt.timedelta(days=rng.randrange(10, 200)), training_kind=training,
            operation_category=item.split(".")[0] if item else None, operation_item=item, project_type=project,
            received_on=issue + dt.timedelta(days=rng.randrange(1, 400)), training_class=course,
            completed_hours=Decimal(rng.choice([60, 80, 120])) if course else None,
        )
        person = synthetic_person(pid, rng, issue)
        cases.append(WhatIfCase(cert, person, DISTRICTS[pid % len(DISTRICTS)]))
    cases.sort(key=lambda c: c.cert.issue_date)  # a person's certificates in issue order
    return cases, catalog


def bench_decide(cases: list[WhatIfCase], catalog: CatalogView) -> float:
    params, prior = default_parameters(), PriorApprovals()
    started = time.perf_counter()
    for c in cases:
        decide_certificate(c.cert, c.person, catalog, params, prior)
    return len(cases) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=305_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    t0 = time.perf_counter()
    cases, catalog = synthetic_cases(args.cases, args.seed)
    print(f"generated {len(cases):,} synthetic certificates in {time.perf_counter() - t0:.2f} s")
    print(f"decide_certificate(): {bench_decide(cases, catalog):,.0f} decisions/s (one process)")
    base = default_parameters()
    changed = base.with_value("四.4.shortage_uplift", Fraction("1.5"), dt.date(2020, 1, 1),
                              "whatif-1.5")
    started = time.perf_counter()
    summary = what_if(cases, base, changed, catalog=catalog)
    took = time.perf_counter() - started
    print(f"what-if over {summary.cases:,} certificates ({summary.persons:,} persons, "
          f"{summary.persons_rerun:,} re-run): {took:.2f} s")
    print(f"  change: {summary.count_delta:+,} approvals, {summary.fen_delta / 100:+,.2f} yuan")
    started = time.perf_counter()
    parallel = what_if_parallel(cases, base, changed, catalog=catalog, workers=2)
    print(f"what-if on 2 forked workers: {time.perf_counter() - started:.2f} s "
          f"(same result: {parallel.rows == summary.rows})")
    for row in summary.rows:
        if row.fen_delta or row.count_delta:
            print(f"  {row.clause:5} {row.district}: {row.count_delta:+d} approvals, "
                  f"{row.fen_delta / 100:+,.2f} yuan")


if __name__ == "__main__":
    main()
