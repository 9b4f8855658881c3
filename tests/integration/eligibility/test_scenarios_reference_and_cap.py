"""The plan period, reference-data versions and the 十三.1 cap, the whole way: registry REST ->
events -> eligibility -> the decision from its API."""

from __future__ import annotations

from tests.integration.eligibility.pipeline import Pipeline, codes_of, resident_id, skill_number

STD = 140000


async def insured_worker(pipeline: Pipeline, seq: int) -> str:
    rid = resident_id(seq)
    await pipeline.employed(rid)
    await pipeline.fact(rid, "unemployment_insurance_months", "2019-01-01", months=30)
    return rid


async def test_certificates_outside_the_plan_period_are_refused_citing_it(pipeline: Pipeline) -> None:
    code = "6-19-01-01"
    await pipeline.catalog("p-2019", code)
    rid = await insured_worker(pipeline, 301)
    after = await pipeline.certificate(rid, skill_number(4, 301), occupation_code=code, issue_date="2022-03-01")
    before = await pipeline.certificate(rid, skill_number(3, 302), occupation_code=code, level=3,
                                        issue_date="2018-12-31")
    late = await pipeline.decision(after, "rejected")
    early = await pipeline.decision(before, "rejected")
    assert "outside_plan_period" in codes_of(late) and "outside_plan_period" in codes_of(early)
    assert "before_start_date" in codes_of(early)  # 四.4's own date rule, not "no parameters"
    assert "no_parameters_in_force" not in codes_of(early) | codes_of(late)
    assert any(v.startswith("plan.period_to@") for v in late["parameter_versions"])


async def test_a_catalog_version_published_later_with_the_same_start_date_is_the_standard(pipeline: Pipeline) -> None:
    code = "6-19-01-02"
    rid = await insured_worker(pipeline, 303)
    await pipeline.catalog("c-2019.1", code, training=120000)
    cid = await pipeline.certificate(rid, skill_number(4, 303), occupation_code=code)
    first = await pipeline.decision(cid, "approved")
    assert (first["amount_fen"], first["catalog_line"]) == (STD // 2, f"c-2019.1:{code}(2015)#4@2019-01-01")
    await pipeline.catalog("c-2019.2", code, training=130000)  # a correction, same start date
    now = await pipeline.decisions(cid, lambda ds: ds[0]["amount_fen"] != STD // 2)
    assert (now[0]["amount_fen"], now[0]["catalog_line"]) == (75000, f"c-2019.2:{code}(2015)#4@2019-01-01")
    assert now[0]["supersedes"] == first["decision_id"]


async def test_a_corrected_shortage_list_replaces_the_year_s_list_and_decisions_name_the_version(
        pipeline: Pipeline) -> None:
    code = "6-19-01-03"
    rid = resident_id(304)
    await pipeline.employed(rid)
    await pipeline.catalog("l-2019", code)
    await pipeline.shortage("market-2020.1", 2020, code, "6-19-01-99")
    class_id = await pipeline.klass("ZG-2020-04", "on_the_job", occupation_code=code)
    cid = await pipeline.certificate(rid, skill_number(4, 304), occupation_code=code, class_id=class_id)
    listed = await pipeline.decisions(cid, lambda ds: ds[0]["amount_fen"] == STD)  # 四.3 shortage: 100%
    assert (listed[0]["clause"], listed[0]["shortage_list"]) == ("四.3", "market-2020.1")
    await pipeline.shortage("market-2020.2", 2020, "6-19-01-99")  # the correction takes it off
    now = await pipeline.decisions(cid, lambda ds: ds[0]["amount_fen"] == STD // 2)
    assert now[0]["shortage_list"] == "market-2020.2" and "shortage_occupation" not in codes_of(now[0])


async def test_the_occupation_code_edition_is_part_of_the_key_with_a_mapping_between_editions(
        pipeline: Pipeline) -> None:
    """The shipped 对照表's example row renumbers 6-29-03-11 (2015) as 6-29-03-12 (2022)."""
    rid = await insured_worker(pipeline, 305)
    await pipeline.catalog("e-2022", "6-29-03-12", edition="2022")
    old = await pipeline.certificate(rid, skill_number(4, 305), occupation_code="6-29-03-11",
                                     occupation_edition="2015")
    d = await pipeline.decision(old, "approved")
    assert d["catalog_line"] == "e-2022:6-29-03-12(2022)#4@2019-01-01"
    again = await pipeline.certificate(rid, skill_number(4, 306), occupation_code="6-29-03-12",
                                       occupation_edition="2022", issue_date="2020-07-01")
    assert "same_occupation_and_level" in codes_of(await pipeline.decision(again, "rejected"))


async def test_the_yearly_cap_is_judged_in_arrival_order_and_a_revocation_frees_a_slot(pipeline: Pipeline) -> None:
    rid = resident_id(307)
    await pipeline.employed(rid)
    codes = [f"6-19-02-0{i}" for i in range(1, 6)]
    for code in codes:
        await pipeline.catalog(f"cap-{code}", code)
    class_id = await pipeline.klass("ZG-2020-05", "on_the_job", occupation_code=codes[0])
    issued = ["2020-03-01", "2020-04-01", "2020-05-01", "2020-01-15", "2020-02-01"]  # the last two arrive last
    ids = []
    for i, (code, day) in enumerate(zip(codes, issued, strict=True)):
        ids.append(await pipeline.certificate(rid, skill_number(4, 310 + i), occupation_code=code,
                                              issue_date=day, class_id=class_id))
        await pipeline.decision(ids[-1])  # each is decided before the next arrives
    outcomes = [(await pipeline.decision(cid))["outcome"] for cid in ids]
    assert outcomes == ["approved", "approved", "approved", "rejected", "rejected"]
    assert "yearly_cap_reached" in codes_of(await pipeline.decision(ids[3]))
    r = await pipeline.reg.post(f"/v1/certificates/{ids[1]}/revocations", headers=await pipeline.auth(
        "demo-bureau"), json={"revoked_on": "2020-09-01", "reason": "虚假培训 (十四)"})
    assert r.status_code == 200, r.text
    assert (await pipeline.decision(ids[1], "reversed"))["amount_fen"] == -(STD // 2)
    freed = await pipeline.decision(ids[3], "approved")  # the first cap-rejected one that arrived
    assert freed["amount_fen"] == STD // 2
    assert (await pipeline.decision(ids[4]))["outcome"] == "rejected"
    assert [(await pipeline.decision(cid))["outcome"] for cid in (ids[0], ids[2])] == ["approved", "approved"]
