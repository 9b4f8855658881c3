"""Per clause, the whole way: registry REST -> registry.* events -> eligibility -> the decision read
back from eligibility's API. Feeders send facts as they do, institutions push certificates, classes
and completions, the bureau publishes the Catalog; identifiers are production-shaped."""

from __future__ import annotations

import datetime as dt

from tests.integration.eligibility.pipeline import (
    INSTITUTION,
    Pipeline,
    codes_of,
    credit_code,
    resident_id,
    skill_number,
)

MILL = "6-18-01-04"  # 磨工: in the test Catalog, never on a shortage list
STD = 140000  # 1,200 + 200 yuan at level 4, in fen
ENTERPRISE = credit_code(1)


async def test_4_1_an_order_class_of_twenty_pays_the_enterprise_that_runs_it_not_the_college(
        pipeline: Pipeline) -> None:
    class_id = await pipeline.klass("DD-2020-01", "order_class", enterprise_code=ENTERPRISE)
    for i in range(20):
        await pipeline.completion(resident_id(100 + i), class_id, "order_class_completed")
    d = await pipeline.decisions(class_id, lambda ds: ds[0]["amount_fen"] == 20 * 100000)
    assert (d[0]["clause"], d[0]["outcome"]) == ("四.1", "needs_review")
    assert (d[0]["payee_kind"], d[0]["payee_ref"]) == ("enterprise", ENTERPRISE)
    assert d[0]["institution_code"] == INSTITUTION and d[0]["class_id"] == class_id


async def test_4_2_a_new_hire_trained_within_twelve_months_is_paid_half_the_standard(pipeline: Pipeline) -> None:
    rid = resident_id(1)
    await pipeline.catalog("s-mill", MILL)
    await pipeline.employed(rid, hire="2020-02-15")
    cid = await pipeline.certificate(rid, skill_number(4, 1), occupation_code=MILL, training_kind="pre_job",
                                     training_start_date="2020-03-01")
    d = await pipeline.decision(cid, "approved")
    assert (d["clause"], d["amount_fen"], d["payee_kind"]) == ("四.2", STD // 2, "worker")
    assert d["payee_ref"] == await pipeline.person_key(rid)
    assert d["catalog_line"] == f"s-mill:{MILL}(2015)#4@2019-01-01" and d["shortage_list"] is None


async def test_4_2_failed_falls_back_to_4_4_the_worker_qualifies_for(pipeline: Pipeline) -> None:
    rid = resident_id(2)
    await pipeline.catalog("s-mill-2", MILL)
    await pipeline.employed(rid, hire="2019-01-02")
    await pipeline.fact(rid, "unemployment_insurance_months", "2020-01-01", months=18)
    cid = await pipeline.certificate(rid, skill_number(4, 2), occupation_code=MILL, training_kind="pre_job",
                                     training_start_date="2020-03-01")  # 14 months after hiring
    d = await pipeline.decision(cid, "approved")
    assert (d["clause"], d["amount_fen"]) == ("四.4", STD // 2)
    (pre_job,) = [c for c in d["considered"] if c["clause"] == "四.2"]
    assert "training_not_within_12_months_of_hire" in codes_of(pre_job)


async def test_4_3_on_the_job_training_in_a_class_and_out_of_catalog_trades_at_cost(pipeline: Pipeline) -> None:
    rid = resident_id(3)
    await pipeline.catalog("s-mill-3", MILL)
    await pipeline.employed(rid)
    class_id = await pipeline.klass("ZG-2020-01", "on_the_job", occupation_code=MILL)
    cid = await pipeline.certificate(rid, skill_number(4, 3), occupation_code=MILL, class_id=class_id)
    d = await pipeline.decision(cid, "approved")
    assert (d["clause"], d["amount_fen"], d["class_id"]) == ("四.3", STD // 2, class_id)
    odd = await pipeline.certificate(rid, skill_number(4, 4), occupation_code="6-99-99-99",
                                     training_kind="enterprise_non_catalog")
    at_cost = await pipeline.decision(odd, "needs_review")
    assert at_cost["clause"] == "四.3" and "out_of_catalog_at_cost" in codes_of(at_cost)


async def test_4_4_and_4_5a_exclude_a_provincial_subsidy_reported_by_certificate_number(pipeline: Pipeline) -> None:
    rid = resident_id(5)
    await pipeline.catalog("s-mill-5", MILL)
    await pipeline.employed(rid)
    await pipeline.fact(rid, "unemployment_insurance_months", "2020-01-01", months=24)
    upgrade, technician = skill_number(4, 5), skill_number(2, 6)
    first = await pipeline.certificate(rid, upgrade, occupation_code=MILL)
    second = await pipeline.certificate(rid, technician, occupation_code=MILL, level=2)
    assert (await pipeline.decision(first, "approved"))["clause"] == "四.4"
    assert (await pipeline.decision(second, "approved"))["clause"] == "四.5a"
    for number in (upgrade, technician):  # the provincial system reports the number, months later
        await pipeline.fact(rid, "provincial_subsidy_received", "2020-11-01", certificate_number=number)
    for cid in (first, second):
        d = await pipeline.decision(cid, "rejected")
        assert "provincial_high_skill_subsidy_received" in codes_of(d)


async def test_4_4_a_certificate_received_after_the_application_window_is_refused(pipeline: Pipeline) -> None:
    rid = resident_id(7)
    await pipeline.catalog("s-mill-7", MILL)
    await pipeline.employed(rid)
    await pipeline.fact(rid, "unemployment_insurance_months", "2020-01-01", months=24)
    cid = await pipeline.certificate(rid, skill_number(4, 7), occupation_code=MILL, received=dt.date(2021, 6, 1))
    d = await pipeline.decision(cid, "rejected")
    assert d["clause"] == "四.4" and "applied_after_window" in codes_of(d)
    assert d["trigger"]["received_on"] == "2021-06-01"


async def test_4_5b_a_degree_by_further_education_needs_the_education_feeders_record(pipeline: Pipeline) -> None:
    rid, part_time, full_time = resident_id(8), "1032012020000123", "1032012020000456"
    await pipeline.employed(rid)
    await pipeline.fact(rid, "pension_insurance_months", "2020-01-01", months=24, insured_region="320612")
    waiting = await pipeline.certificate(rid, part_time, kind="degree", occupation_code=None, level=None,
                                         issue_date="2020-07-01")
    missing = await pipeline.decision(waiting, "rejected")
    assert missing["clause"] == "四.5b" and "degree_record_missing" in codes_of(missing)
    await pipeline.fact(rid, "degree_record", "2020-07-01", certificate_number=part_time, study_mode="adult",
                        education_level="associate")
    assert (await pipeline.decision(waiting, "approved"))["amount_fen"] == 100000
    other = resident_id(9)
    await pipeline.employed(other)
    await pipeline.fact(other, "pension_insurance_months", "2020-01-01", months=24, insured_region="320612")
    await pipeline.fact(other, "degree_record", "2020-07-01", certificate_number=full_time, study_mode="full_time",
                        education_level="bachelor")
    cid = await pipeline.certificate(other, full_time, kind="degree", occupation_code=None, level=None,
                                     issue_date="2020-07-01")
    assert "not_further_education" in codes_of(await pipeline.decision(cid, "rejected"))


async def test_4_7_an_apprenticeship_year_pays_the_enterprise_by_the_level_reached(pipeline: Pipeline) -> None:
    rid = resident_id(10)
    await pipeline.employed(rid, employer=ENTERPRISE)
    class_id = await pipeline.klass("XT-2019-01", "new_apprenticeship", level=3, start_date="2019-09-01",
                                    end_date="2020-08-31", enterprise_code=ENTERPRISE)
    done = await pipeline.completion(rid, class_id, "apprenticeship_year_completed", apprenticeship_year=1,
                                     completed_on="2020-08-31")
    d = await pipeline.decision(done, "approved")
    assert (d["clause"], d["amount_fen"], d["payee_kind"], d["payee_ref"]) == ("四.7", 500000, "enterprise",
                                                                                ENTERPRISE)


async def test_5_2_pays_only_when_the_completion_record_shows_the_required_hours(pipeline: Pipeline) -> None:
    await pipeline.catalog("s-mill-11", MILL)
    class_id = await pipeline.klass("SY-2020-01", "unemployed", occupation_code=MILL, hours=80)
    results = {}
    for seq, hours in ((11, 60), (12, 80)):
        rid = resident_id(seq)
        await pipeline.fact(rid, "registered_unemployment", "2020-01-01")
        await pipeline.completion(rid, class_id, hours=hours)
        cid = await pipeline.certificate(rid, skill_number(4, seq), occupation_code=MILL, class_id=class_id)
        results[hours] = await pipeline.decisions(cid, lambda ds: ds[0]["clause"] == "五.2")
    assert results[60][0]["outcome"] == "rejected" and "required_hours_not_completed" in codes_of(results[60][0])
    assert (results[80][0]["outcome"], results[80][0]["amount_fen"]) == ("approved", STD)


async def test_5_2_and_13_3_someone_with_training_needs_and_no_pension_entitlement_is_in_scope(
        pipeline: Pipeline) -> None:
    await pipeline.catalog("s-mill-13", MILL)
    class_id = await pipeline.klass("SY-2020-02", "unemployed", occupation_code=MILL, hours=80)
    flexible, retired = resident_id(13), resident_id(14, birth="19590301")
    await pipeline.fact(retired, "monthly_pension_entitlement", "2019-03-01")  # entitled, not drawing it
    ids = {}
    for seq, rid in ((13, flexible), (14, retired)):
        await pipeline.completion(rid, class_id, hours=80)
        ids[rid] = await pipeline.certificate(rid, skill_number(4, seq), occupation_code=MILL, class_id=class_id)
    ok = await pipeline.decision(ids[flexible], "approved")
    assert (ok["clause"], ok["amount_fen"]) == ("五.2", STD) and "in_scope_by_13_3" in codes_of(ok)
    refused = await pipeline.decision(ids[retired], "rejected")
    assert "entitled_to_monthly_pension" in codes_of(refused)


async def test_5_2b_a_living_allowance_for_the_days_of_the_course(pipeline: Pipeline) -> None:
    rid = resident_id(15)
    await pipeline.fact(rid, "registered_unemployment", "2020-01-01")
    await pipeline.fact(rid, "employment_difficulty", "2020-01-01")
    class_id = await pipeline.klass("SY-2020-03", "unemployed", start_date="2020-03-01", end_date="2020-03-10")
    done = await pipeline.completion(rid, class_id, completed_on="2020-03-10", hours=80)
    d = await pipeline.decision(done, "approved")
    assert (d["clause"], d["amount_fen"], d["payee_kind"]) == ("五.2b", 10 * 3000, "worker")


async def test_5_3_and_13_4_a_relative_of_a_severely_disabled_person_passes_the_insured_employer_test(
        pipeline: Pipeline) -> None:
    disabled, son, daughter = resident_id(16, birth="19650101"), resident_id(17), resident_id(18)
    await pipeline.fact(disabled, "disability", "2010-01-01", severity="severe")
    class_id = await pipeline.klass("YG-2020-01", "work_based", enterprise_code=ENTERPRISE)
    ids = {}
    for rid in (son, daughter):
        await pipeline.fact(rid, "family_link", "2019-01-01", relative_resident_id=disabled, relation="parent")
        await pipeline.employed(rid, hire="2020-01-02", employer=ENTERPRISE)
    await pipeline.fact(son, "unemployment_insurance_months", "2020-01-01", months=3)  # the employer insures him
    for rid in (son, daughter):
        ids[rid] = await pipeline.completion(rid, class_id, "work_based_months", months=3, completed_on="2020-04-01")
    insured = await pipeline.decision(ids[son], "approved")
    assert (insured["clause"], insured["amount_fen"], insured["payee_ref"]) == ("五.3", 150000, ENTERPRISE)
    assert "十三.4" in insured["clauses_cited"]
    uninsured = await pipeline.decision(ids[daughter], "rejected")
    assert "employer_not_insured" in codes_of(uninsured)


async def test_5_4_entrepreneurship_training_by_the_registrys_project_type(pipeline: Pipeline) -> None:
    rid = resident_id(19)
    await pipeline.fact(rid, "registered_unemployment", "2020-01-01")
    cid = await pipeline.certificate(rid, "CY-3206-2020-000019", kind="entrepreneurship", occupation_code=None,
                                     level=None, project_type="syb")
    d = await pipeline.decision(cid, "approved")
    assert (d["clause"], d["amount_fen"]) == ("五.4", 80000 + 20000)


async def test_6_special_operations_certificates_repeat_only_for_the_same_item(pipeline: Pipeline) -> None:
    rid = resident_id(20)
    body = {"kind": "special_operations", "occupation_code": None, "level": None}
    low = await pipeline.certificate(rid, "TZ-3206-2020-000001", **body, operation_category="1",
                                     operation_item="1.2")
    weld = await pipeline.certificate(rid, "TZ-3206-2020-000002", **body, operation_category="2",
                                      operation_item="2.1", issue_date="2020-06-20")
    again = await pipeline.certificate(rid, "TZ-3206-2020-000003", **body, operation_category="1",
                                       operation_item="1.2", issue_date="2020-08-01")
    assert (await pipeline.decision(low, "approved"))["amount_fen"] == 30000
    assert (await pipeline.decision(weld, "approved"))["clause"] == "六"
    assert "same_occupation_and_level" in codes_of(await pipeline.decision(again, "rejected"))
