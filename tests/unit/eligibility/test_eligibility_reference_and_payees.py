"""Reference data (Catalog versions, shortage lists, editions), who is paid, the fact snapshot
(十三.3, 十三.4, records by certificate number) and the review rules: pure, no database."""

from __future__ import annotations

import datetime as dt

import pytest
from elig_builders import (
    EMPLOYER,
    ENTERPRISE,
    INSTITUTION,
    LATHE,
    PARAMS,
    PUBLISHED,
    WELDER,
    D,
    cert,
    codes,
    course,
    one,
    pk,
    worker,
    year_list,
)

from services.eligibility import facts as f
from services.eligibility.catalog import CatalogLine, YearList, catalog_view, parse_edition_map
from services.eligibility.payees import payee
from services.eligibility.projection import FactRecord, snapshot
from services.eligibility.review_rules import (
    Evidence,
    ReviewError,
    approved_amount,
    check_request,
    check_reviewer,
    plan_cap,
)

LATER = PUBLISHED + dt.timedelta(days=200)


def line(version: str, training: int, published: dt.datetime, valid_from: dt.date = D(2019, 1, 1),
         valid_to: dt.date | None = None, code: str = LATHE, edition: str = "2015") -> CatalogLine:
    return CatalogLine(code, 4, training, 20000, valid_from, valid_to, version, edition, published)


# --- Catalog versions: the latest published wins for the lines it carries

def test_a_version_published_later_with_the_same_start_date_is_the_standard() -> None:
    catalog = catalog_view([line("2019.2", 125000, LATER), line("2019.1", 120000, PUBLISHED)])
    d = one(cert(occupation_code=LATHE, issue_date=D(2019, 6, 1), received_on=D(2019, 7, 1)), worker(),
            catalog=catalog)
    assert d.amount_fen == 72500 and d.catalog_line == "2019.2:6-18-01-01(2015)#4@2019-01-01"


def test_a_later_version_replaces_only_the_days_it_covers() -> None:
    catalog = catalog_view([line("2019.1", 120000, PUBLISHED),
                            line("2020.7", 150000, LATER, valid_from=D(2020, 7, 1))])
    assert catalog.standard(LATHE, 4, D(2020, 6, 30)).version == "2019.1"  # type: ignore[union-attr]
    assert catalog.standard(LATHE, 4, D(2020, 7, 1)).version == "2020.7"  # type: ignore[union-attr]


# --- Shortage lists: the latest published version of a year replaces the earlier one

def test_a_corrected_shortage_list_takes_an_occupation_off() -> None:
    lists = [("market", 2020, year_list("2020.1", LATHE, WELDER)),
             ("market", 2020, YearList("2020.2", frozenset({WELDER}), LATER))]
    catalog = catalog_view([line("2019.1", 120000, PUBLISHED)], lists)
    d = one(cert(occupation_code=LATHE, training_kind=f.ON_THE_JOB), worker(ui_contribution_months=0),
            catalog=catalog)
    assert (d.clause, d.amount_fen, d.shortage_list) == ("四.3", 70000, "2020.2")  # not 100%: no longer listed
    assert "shortage_occupation" not in codes(d)


def test_a_decision_records_that_no_list_was_published_for_its_year() -> None:
    d = one(cert(occupation_code=LATHE, issue_date=D(2019, 5, 1), received_on=D(2019, 6, 1)), worker())
    assert d.shortage_list is None and d.catalog_line is not None


# --- Editions: codes are compared in the 2022 edition through the 对照表

EDITIONS = parse_edition_map("# version: t-editions\ncode_2015,code_2022,name_zh\n6-29-03-11,6-29-03-12,示例\n")


def test_a_2015_certificate_finds_the_catalog_line_published_with_the_2022_code() -> None:
    catalog = catalog_view([line("2021.1", 120000, PUBLISHED, code="6-29-03-12", edition="2022")], (), EDITIONS)
    d = one(cert(occupation_code="6-29-03-11", occupation_edition="2015"), worker(), catalog=catalog)
    assert d.outcome == "approved" and d.catalog_line == "2021.1:6-29-03-12(2022)#4@2019-01-01"
    assert d.occupation_key == "6-29-03-12#4"


def test_the_same_occupation_under_either_edition_is_one_occupation_for_13_1() -> None:
    catalog = catalog_view([line("2021.1", 120000, PUBLISHED, code="6-29-03-12", edition="2022")], (), EDITIONS)
    old = one(cert(occupation_code="6-29-03-11", occupation_edition="2015"), worker(), catalog=catalog)
    new = one(cert(occupation_code="6-29-03-12", occupation_edition="2022"), worker(), catalog=catalog)
    assert old.occupation_key == new.occupation_key


def test_a_2022_code_is_not_mapped_as_if_it_were_2015() -> None:
    assert EDITIONS.canonical("6-29-03-11", "2022") == "6-29-03-11"
    assert EDITIONS.related({"6-29-03-12"}) == {"6-29-03-12", "6-29-03-11"}
    with pytest.raises(ValueError, match="twice"):
        parse_edition_map("code_2015,code_2022,name_zh\n1-01-01-01,1,a\n1-01-01-01,2,b\n")


# --- Who is paid (the dated payee table)

def test_each_clause_names_its_payee_kind_from_the_table_in_force() -> None:
    view = PARAMS.at(D(2020, 6, 1))
    person = worker()
    assert payee("四.2", view, person, None) == ("worker", person.person_id)
    assert payee("五.3", view, person, course("work_based")) == ("enterprise", EMPLOYER)
    assert payee("四.7", view, person, course("new_apprenticeship", enterprise_code=ENTERPRISE)) == (
        "enterprise", ENTERPRISE)
    assert payee("五.2", view, person, course("project_based")) == ("institution", INSTITUTION)


def test_pre_job_training_the_employer_organises_pays_the_enterprise_where_the_bureau_says_so() -> None:
    own = course("pre_job", enterprise_code=EMPLOYER)
    assert payee("四.2", PARAMS.at(D(2020, 6, 1)), worker(), own)[0] == "worker"  # shipped: the worker
    table = dict(PARAMS.at(D(2020, 6, 1)).get("payee.kind")) | {"四.2/enterprise_organised": "enterprise"}
    decided = PARAMS.with_value("payee.kind", table, D(2020, 1, 1), "bureau-2020")
    assert payee("四.2", decided.at(D(2020, 6, 1)), worker(), own) == ("enterprise", EMPLOYER)
    other = course("pre_job", enterprise_code=ENTERPRISE)  # a class another enterprise runs
    assert payee("四.2", decided.at(D(2020, 6, 1)), worker(), other)[0] == "worker"


def test_an_unknown_institution_or_enterprise_is_null_never_the_worker() -> None:
    view = PARAMS.at(D(2020, 6, 1))
    jobless = worker(employed=False, employer_id=None)
    assert payee("五.3", view, jobless, course("work_based")) == ("enterprise", None)
    assert payee("四.1", view, jobless, course("order_class")) == ("enterprise", None)


# --- The snapshot: 十三.3 entitlement, 十三.4 family links, records keyed by certificate number

def test_a_family_link_gives_the_relatives_status_on_that_day() -> None:
    relative = pk("mother")
    link = FactRecord("family_link", D(2019, 1, 1), None, {"relative_person_key": relative, "relation": "parent"})
    theirs = {relative: (FactRecord("disability", D(2019, 5, 1), None, {"severity": "severe"}),
                         FactRecord("dibao_household", D(2020, 1, 1), D(2020, 12, 31), {}))}
    early = snapshot(pk("child"), (link,), D(2019, 3, 1), theirs)
    later = snapshot(pk("child"), (link,), D(2020, 6, 1), theirs)
    assert not early.family_severely_disabled and not early.family_subsistence
    assert later.family_severely_disabled and later.family_subsistence and not later.disabled


def test_a_mild_disability_of_the_relative_does_not_extend_to_the_family() -> None:
    relative = pk("father")
    link = FactRecord("family_link", D(2019, 1, 1), None, {"relative_person_key": relative, "relation": "parent"})
    theirs = {relative: (FactRecord("disability", D(2019, 5, 1), None, {"severity": "mild"}),)}
    assert not snapshot(pk("son"), (link,), D(2020, 6, 1), theirs).family_severely_disabled


def test_a_provincial_subsidy_recorded_after_the_certificate_still_excludes_it() -> None:
    c = cert()
    later = FactRecord("provincial_subsidy_received", D(2020, 11, 1), None, {"certificate_number": c.number})
    person = snapshot(pk("p"), (FactRecord("employment", D(2018, 1, 1), None, {
        "employer_code": EMPLOYER, "hire_date": "2018-01-01", "contract_months": 36}),
        FactRecord("unemployment_insurance_months", D(2020, 1, 1), None, {"months": 24}), later), c.issue_date)
    d = one(c, person)
    assert d.outcome == "rejected" and "provincial_high_skill_subsidy_received" in codes(d)


def test_pension_entitlement_and_degree_records_come_from_their_facts() -> None:
    p = snapshot(pk("p"), (FactRecord("monthly_pension_entitlement", D(2019, 3, 1), None, {}),
                           FactRecord("degree_record", D(2020, 7, 1), None, {
                               "certificate_number": "1032012020000123", "study_mode": "online",
                               "education_level": "bachelor"})), D(2020, 6, 1))
    assert p.pension_entitled and not p.drawing_monthly_pension and p.out_of_scope_pension
    assert p.degree_records["1032012020000123"] == f.DegreeRecord("online", "bachelor")


# --- Review rules

def test_the_requester_cannot_resolve_their_own_review() -> None:
    with pytest.raises(ReviewError) as refused:
        check_reviewer("bureau:rev-zhou", "rev-zhou")
    assert (refused.value.status, refused.value.field) == (403, "review_id")
    check_reviewer("bureau:rev-zhou", "rev-sun")
    check_reviewer(None, "rev-sun")  # a needs-review case nobody asked for


def test_approved_and_rejected_decisions_are_reviewable_pending_ones_and_human_ones_are_not() -> None:
    check_request("approved", True, False)
    check_request("rejected", True, False)
    for outcome, current, reviewed in (("needs_review", True, False), ("approved", False, False),
                                       ("approved", True, True)):
        with pytest.raises(ReviewError):
            check_request(outcome, current, reviewed)


def test_at_cost_amount_is_cost_plus_fee_at_most_the_dated_cap_and_needs_documents() -> None:
    view = PARAMS.at(D(2020, 6, 1))
    at_cost = ["out_of_catalog_at_cost"]
    fen, steps = approved_amount("四.3", at_cost, 0, None, view, None, Evidence(48000, 8000, ("发票 No.1",)), ())
    assert fen == 56000 and steps[2].value == "发票 No.1"
    capped, _ = approved_amount("四.3", at_cost, 0, None, view, None, Evidence(400000, 9000, ("发票 No.2",)), ())
    assert capped == view.get("四.3.at_cost_cap_fen") == 300000
    for evidence, field in ((None, "evidence"), (Evidence(1, 1, ()), "evidence.documents")):
        with pytest.raises(ReviewError) as refused:
            approved_amount("四.3", at_cost, 0, None, view, None, evidence, ())
        assert refused.value.field == field


def test_the_plan_cap_of_a_review_is_the_clauses_top_rate_or_the_proposed_amount() -> None:
    view = PARAMS.at(D(2020, 6, 1))
    std = line("2019.1", 120000, PUBLISHED)
    assert plan_cap("四.4", 70000, std, view) == 91000  # 1,400 × 50% × 1.3
    assert plan_cap("四.2", 70000, std, view) == 140000  # shortage: 100%
    assert plan_cap("四.1", 2_000_000, None, view) == 2_000_000  # "up to": the proposed amount
    assert plan_cap("五.2b", 0, None, view) is None
    fen, steps = approved_amount("四.4", [], 70000, std, view, 91000, None, ())
    assert fen == 91000 and steps[-1].value == "910.00"
    with pytest.raises(ReviewError):
        approved_amount("四.4", [], 70000, std, view, 91001, None, ())
