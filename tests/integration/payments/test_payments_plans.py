"""十三.5 through payments' API: the advance only from a registry plan, the settlement only from
eligibility's decisions for the plan's completers, maker-checker on both.

REFERENCE.md practice (a county payout notice): 45 planned apprentices at level 3 (5,000 yuan a
year) for 2 years: advance = 45 × 5,000 × 50% = 112,500 yuan; 33 completed: settlement =
33 × 5,000 × 2 − 112,500 = 217,500 yuan.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.payments.payments_fixtures import (
    ENTERPRISE,
    FIN_B,
    FIN_D,
    HR_A,
    HR_C,
    account,
    allocate,
    decision,
    deliver,
    deliver_events,
    held,
    payments,
    plan,
    release_batch,
    scalar,
    statement,
    successor,
    verification,
    worker,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")
YEAR_FEN = 500_000  # 四.7 level 3: 5,000 yuan per apprentice and year


def year_decisions(p: dict[str, Any], apprentices: int, years: int) -> list[dict[str, Any]]:
    """One 四.7 decision per apprentice and completed year, paying the enterprise of the plan's class."""
    out = []
    for _ in range(apprentices):
        person = worker()
        out += [decision(YEAR_FEN, clause="四.7", person=person, payee_kind="enterprise", payee_ref=ENTERPRISE,
                         class_id=p["class_id"], institution_code=ENTERPRISE) for _ in range(years)]
    return out


async def paid_advance(pay: Any, p: dict[str, Any]) -> dict[str, Any]:
    drafted = await pay.post("/v1/advances", json={"plan_id": p["plan_id"]}, headers=HR_A)
    assert drafted.status_code == 201, drafted.text
    created = await pay.post("/v1/batches", json={}, headers=HR_A)
    bid = created.json()["batch_id"]
    maker = await pay.post(f"/v1/batches/{bid}/approve", headers=HR_A)
    assert maker.status_code == 403 and "drafted" in maker.text  # who drafted it cannot approve it
    assert (await pay.post(f"/v1/batches/{bid}/approve", headers=HR_C)).status_code == 200
    assert (await pay.post(f"/v1/batches/{bid}/release", headers=FIN_B)).status_code == 200
    from tests.integration.payments.payments_fixtures import payment_file

    rows = await payment_file(pay, bid)
    await statement(pay, rows)
    return dict(drafted.json()) | {"file": rows}


async def test_the_reference_payout_advance_112500_then_settlement_217500_to_the_enterprise(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 100_000_000)
        p = plan(ENTERPRISE)
        await deliver_events(pay, account(pay, ENTERPRISE, kind="enterprise"), p)
        typed = await pay.post("/v1/advances", headers=HR_A, json={"plan_id": p["plan_id"], "payee_ref": "anyone",
                                                                   "advance_fen": 99_999_999})
        assert typed.status_code == 422  # nothing but the plan
        unknown = await pay.post("/v1/advances", json={"plan_id": str(uuid.uuid4())}, headers=HR_A)
        assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "plan_id"
        assert (await pay.post("/v1/advances", json={"plan_id": p["plan_id"]}, headers=FIN_B)).status_code == 403
        advance = await paid_advance(pay, p)
        assert (advance["amount_fen"], advance["planned_fen"]) == (11_250_000, 45_000_000)  # 112,500 yuan
        assert [(r["payee_kind"], r["payee_ref"], r["amount_yuan"]) for r in advance["file"]] == [
            ("enterprise", ENTERPRISE, "112500.00")]
        assert (await pay.post("/v1/advances", json={"plan_id": p["plan_id"]}, headers=HR_C)).status_code == 409

        completers = year_decisions(p, 33, 2)
        await deliver(pay, *completers)
        assert set((await held(pay)).values()) == {"awaiting_plan_settlement"} and len(await held(pay)) == 66
        assert await scalar(pay, "SELECT count(*) FROM disbursements WHERE part = 'whole'") == 0

        settled = await pay.post(f"/v1/advances/{p['plan_id']}/settlement", json={}, headers=HR_A)
        assert settled.status_code == 201, settled.text
        assert settled.json() | {"plan_id": None} == {
            "plan_id": None, "completer_decisions": 66, "earned_fen": 33_000_000, "advance_fen": 11_250_000,
            "pay_fen": 21_750_000, "recover_fen": 0}
        assert await held(pay) == {}
        again = await pay.post(f"/v1/advances/{p['plan_id']}/settlement", json={}, headers=HR_C)
        assert again.status_code == 409
        _, rows = await release_batch(pay, approver=HR_C)
        assert [r["amount_yuan"] for r in rows] == ["217500.00"]
        await statement(pay, rows)
        report = await verification(pay)
        assert report["drift"] == [] and report["checked"]["plans_settled"] == 1
        assert report["checked"]["triggers_settled"] == 66

        revoked = successor(completers[0], -YEAR_FEN, outcome="reversed")
        await deliver(pay, revoked)  # a completer's certificate revoked after the settlement was paid
        owed = await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings WHERE account LIKE 'receivable|%'")
        assert owed == YEAR_FEN
        assert (await verification(pay))["drift"] == []


async def test_an_advance_not_earned_becomes_a_recovery_from_the_institution(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 100_000_000)
        p = plan(ENTERPRISE)
        await deliver_events(pay, account(pay, ENTERPRISE, kind="enterprise"), p)
        await paid_advance(pay, p)
        await deliver(pay, *year_decisions(p, 10, 1))
        out = (await pay.post(f"/v1/advances/{p['plan_id']}/settlement", json={}, headers=HR_A)).json()
        assert (out["earned_fen"], out["pay_fen"], out["recover_fen"]) == (5_000_000, 0, 6_250_000)
        owed = await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings WHERE account LIKE 'receivable|%'")
        assert owed == 6_250_000
        item = (await pay.post("/v1/recoveries", headers=FIN_B, json={
            "reference": "HK-2022-0001", "source": "unemployment_insurance_surplus", "district": p["district"],
            "payee_kind": "enterprise", "payee_ref": ENTERPRISE, "amount_fen": 6_250_000})).json()["item_id"]
        assert (await pay.post(f"/v1/manual-items/{item}/approve", headers=HR_A)).status_code == 200
        assert (await pay.post(f"/v1/manual-items/{item}/release", headers=FIN_D)).status_code == 200
        owed = await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings WHERE account LIKE 'receivable|%'")
        assert owed == 0
        assert (await verification(pay))["drift"] == []


async def test_a_plan_settles_only_after_its_class_and_takes_over_drafts_that_came_before_it(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 100_000_000)
        p = plan(ENTERPRISE, end="2099-12-31")
        early = year_decisions(p, 3, 1)
        await deliver(pay, *early)  # the plan is not known yet: drafted one by one
        assert await scalar(pay, "SELECT count(*) FROM disbursements WHERE status = 'reserved'") == 3
        await deliver_events(pay, p)  # now it is: its class's unpaid drafts move under it
        assert await scalar(pay, "SELECT count(*) FROM disbursements WHERE status = 'cancelled'") == 3
        assert set((await held(pay)).values()) == {"awaiting_plan_settlement"}
        assert (await pay.post("/v1/advances", json={"plan_id": p["plan_id"]}, headers=HR_A)).status_code == 201
        too_early = await pay.post(f"/v1/advances/{p['plan_id']}/settlement", json={}, headers=HR_A)
        assert too_early.status_code == 409 and "2099-12-31" in too_early.text
        assert (await pay.get(f"/v1/plans/{p['plan_id']}", headers=FIN_B)).json()["settlement"] is None
