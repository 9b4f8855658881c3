"""九 / 十七: training is subsidised only when the institution that delivered it was on the bureau's
catalogue of training and evaluation institutions, for that occupation and level, when it started."""

from __future__ import annotations

import datetime as dt

from elig_builders import (
    CATALOG,
    INSTITUTION,
    LATHE,
    PUBLISHED,
    WELDER,
    D,
    cert,
    codes,
    course,
    one,
    unemployed,
    worker,
)

from services.eligibility import facts as f
from services.eligibility.catalog import Listing, catalog_view

OTHER = "91320612MA1NT00013"  # an institution nobody catalogued


def HIRED() -> f.PersonFacts:  # noqa: N802 - reads as the person it builds
    """Hired 2020-02-15 with no UI months: 四.2 is the only clause that can pay."""
    return worker(hire_date=D(2020, 2, 15), ui_contribution_months=0)


def with_listings(*entries: tuple[str, Listing]) -> object:
    return catalog_view([line for lines in CATALOG.standards.values() for line in lines], (), CATALOG.editions,
                        entries)


def test_pre_job_training_by_an_institution_not_in_the_catalogue_is_refused_citing_9_and_17() -> None:
    d = one(cert(issuer_code=OTHER, training_kind=f.PRE_JOB, training_start=D(2020, 3, 1)),
            HIRED())
    assert d.outcome == "rejected" and "institution_not_listed" in codes(d)
    listed = one(cert(training_kind=f.PRE_JOB, training_start=D(2020, 3, 1)), HIRED())
    assert listed.outcome == "approved" and {"九", "十七"} <= set(listed.clauses_cited)


def test_an_institution_listed_only_after_the_training_started_does_not_count() -> None:
    late = with_listings((INSTITUTION, Listing("inst-2020.2", frozenset({(WELDER, None)}), D(2020, 4, 1), None,
                                               PUBLISHED)))
    d = one(cert(training_kind=f.PRE_JOB, training_start=D(2020, 3, 1)), HIRED(),
            catalog=late)
    assert "institution_not_listed" in codes(d)


def test_an_institution_listed_for_another_occupation_or_level_is_refused_for_this_one() -> None:
    lathe_only = with_listings((INSTITUTION, Listing("inst-2019.2", frozenset({(LATHE, None), (WELDER, 3)}),
                                                     D(2019, 1, 1), None, PUBLISHED)))
    d = one(cert(level=4, training_kind=f.PRE_JOB, training_start=D(2020, 3, 1)), HIRED(),
            catalog=lathe_only)
    assert "institution_not_listed_for_occupation" in codes(d)


def test_the_latest_published_entry_decides_and_a_delisting_refuses_training_started_after_it() -> None:
    later = PUBLISHED + dt.timedelta(days=90)
    both = with_listings(
        (INSTITUTION, Listing("inst-2019.1", frozenset({(WELDER, None)}), D(2019, 1, 1), None, PUBLISHED)),
        (INSTITUTION, Listing("inst-2020.1", frozenset(), D(2020, 3, 1), None, later, "D")))  # taken off
    before = one(cert(training_kind=f.PRE_JOB, training_start=D(2020, 2, 20)), HIRED(),
                 catalog=both)
    after = one(cert(training_kind=f.PRE_JOB, training_start=D(2020, 3, 1)), HIRED(),
                catalog=both)
    assert before.outcome == "approved"
    assert after.outcome == "rejected" and "institution_not_listed" in codes(after)


def test_unemployed_training_reads_the_class_institution_not_the_issuer() -> None:
    cls = course(institution_code=OTHER)
    d = one(cert(training_class=cls, completed_hours=cls.required_hours), unemployed())
    assert d.clause == "五.2" and "institution_not_listed" in codes(d)
