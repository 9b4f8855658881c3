"""Payments against a real PostgreSQL and broker: drafts, batches, four eyes, treasury, reconciliation."""

from __future__ import annotations

import io
from csv import DictReader

import pytest

from tests.conftest import bearer
from tests.integration.payments.payments_fixtures import (
    DISTRICT,
    FIN_B,
    FIN_D,
    HR_A,
    HR_C,
    UI,
    FakeTreasury,
    allocate,
    decision,
    deliver,
    fund,
    payments,
    scalar,
    successor,
    worker,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")


async def test_a_batch_of_decisions_reserves_in_order_and_the_rest_waits_until_money_arrives(settings) -> None:
    async with payments(settings) as pay:
        assert (await allocate(pay, 250_000)).status_code == 200
        ds = [decision(100_000) for _ in range(4)]
        await deliver(pay, *ds)
        await deliver(pay, *ds)  # redelivery: nothing doubles
        rows = (await pay.get("/v1/disbursements", headers=FIN_B)).json()
        assert len(rows) == 4
        by_decision = {r["decision_id"]: r["status"] for r in rows}
        assert [by_decision[d["decision_id"]] for d in ds] == ["reserved", "reserved", "waiting", "waiting"]
        f = await fund(pay)
        assert (f["reserved_fen"], f["available_fen"], f["waiting"]) == (200_000, 50_000, 2)
        admitted = (await allocate(pay, 150_000)).json()["admitted_drafts"]
        assert len(admitted) == 2
        assert (await fund(pay))["available_fen"] == 0
        n = await scalar(pay, "SELECT count(*) FROM outbox WHERE envelope->>'type' = "
                              "'payments.disbursement.status_changed' AND envelope->'payload'->>'status' = 'reserved'")
        assert n == 2


async def test_hr_approves_and_a_different_finance_person_releases_then_the_statement_settles_it(settings) -> None:
    treasury = FakeTreasury()
    async with payments(settings, treasury) as pay:
        await allocate(pay, 1_000_000)
        ds = [decision(100_000), decision(200_000), decision(300_000)]
        await deliver(pay, *ds)
        assert (await pay.post("/v1/batches", json={}, headers=FIN_B)).status_code == 403
        batch = (await pay.post("/v1/batches", json={}, headers=HR_A)).json()
        assert (batch["items"], batch["total_fen"]) == (3, 600_000)
        bid = batch["batch_id"]
        early = await pay.post(f"/v1/batches/{bid}/release", headers=FIN_B)
        assert early.status_code == 409 and early.json()["errors"][0]["field"] == "batch_id"
        assert (await pay.post(f"/v1/batches/{bid}/approve", headers=FIN_B)).status_code == 403
        assert (await pay.post(f"/v1/batches/{bid}/approve", headers=HR_A)).status_code == 200
        same_person = await pay.post(f"/v1/batches/{bid}/release",
                                     headers=bearer("hr-alice", "finance"))
        assert same_person.status_code == 403 and same_person.json()["errors"][0]["field"] == "role"
        assert (await pay.post(f"/v1/batches/{bid}/release", headers=HR_C)).status_code == 403
        released = await pay.post(f"/v1/batches/{bid}/release", headers=FIN_B)
        assert released.status_code == 200 and released.json()["cash_fen"] == 600_000
        again = await pay.post(f"/v1/batches/{bid}/release", headers=FIN_B)
        assert again.status_code == 409 and "released" in again.json()["title"]
        assert len(treasury.calls) == 1 and treasury.keys == {f"skillsub-payments:batch:{bid}"}
        assert (await pay.post(f"/v1/batches/{bid}/submit", headers=FIN_B)).json()["submitted"]
        assert len(treasury.keys) == 1  # the repeat carried the same key: the treasury pays once
        f = await fund(pay)
        assert (f["balance_fen"], f["reserved_fen"]) == (400_000, 0)

        file = (await pay.get(f"/v1/batches/{bid}/payment-file", headers=FIN_B)).text
        rows = list(DictReader(io.StringIO(file)))
        assert len(rows) == 3 and {r["account_kind"] for r in rows} == {"social_security_card"}
        assert {r["payee_ref"] for r in rows} == {d["payee_ref"] for d in ds}
        refs = [r["payment_ref"] for r in rows]
        amounts = {r["payment_ref"]: r["amount_fen"] for r in rows}
        csv = "payment_ref,amount_fen,status\n" + "\n".join([
            f"{refs[0]},{amounts[refs[0]]},paid", f"{refs[1]},{amounts[refs[1]]},failed",
            f"{refs[2]},1,paid", "nobody:whole#1,5,paid"]) + "\n"
        result = (await pay.post("/v1/statements", json={"reference": "ST-1", "csv": csv}, headers=FIN_B)).json()
        assert (result["paid"], result["failed"], len(result["unmatched"])) == (1, 1, 2)
        assert {u["line"] for u in result["unmatched"]} == {4, 5}
        failed_amount = int(amounts[refs[1]])
        assert (await fund(pay))["balance_fen"] == 400_000 + failed_amount  # money released for the failure
        repeat = (await pay.post("/v1/statements", json={"reference": "ST-1", "csv": csv}, headers=FIN_B)).json()
        assert repeat == result
        statuses = await scalar(pay, "SELECT string_agg(status, ',' ORDER BY status) FROM disbursements")
        assert statuses == "failed,paid,released"
        bad = await pay.post("/v1/statements", json={"reference": "ST-2", "csv": "payment_ref,amount_fen,status\n"
                                                     f"{refs[2]},12x,paid\n"}, headers=FIN_B)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "csv"
        assert await scalar(pay, "SELECT count(*) FROM treasury_statements") == 1

        public = (await pay.get("/v1/fund-use")).json()
        # live spending is staff-only (services/payments/fund_use.py): the public reads allocations
        assert public["spent"] is None and public["spent_suppressed"] and public["min_cell"] == 5
        assert public["allocated"] and public["spent_published_by"] == "reporting GET /v1/funds"
        staff = (await pay.get("/v1/fund-use", headers=FIN_B)).json()
        spent = {(r["source"], r["district"], r["clause"]): r["spent_fen"] for r in staff["spent"]}
        assert staff["min_cell"] is None and list(spent) == [(UI, DISTRICT, "四.4")] and spent[UI, DISTRICT, "四.4"] > 0
        assert staff["allocated"] == public["allocated"]
        for answer in (public, staff):
            assert not any(d["person_key"] in str(answer) for d in ds) and "payee" not in str(answer)
        assert (await pay.get("/v1/fund-use", headers={"Authorization": "Bearer not-a-token"})).status_code == 401
        assert await scalar(pay, "SELECT count(*) FROM outbox WHERE envelope->>'type' = "
                                 "'payments.disbursement.status_changed'") == 3 + 3 + 1 + 1
        assert await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings") == 0


async def test_superseded_and_reversed_decisions_cancel_or_claw_back_and_recovery_restores_the_fund(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 500_000)
        me = worker()
        unpaid, paid = decision(100_000), decision(200_000, person=me)
        await deliver(pay, unpaid, paid)
        await deliver(pay, successor(unpaid, 0, outcome="rejected"))
        assert (await fund(pay))["reserved_fen"] == 200_000
        bid = (await pay.post("/v1/batches", json={}, headers=HR_A)).json()["batch_id"]
        await pay.post(f"/v1/batches/{bid}/approve", headers=HR_A)
        await pay.post(f"/v1/batches/{bid}/release", headers=FIN_B)
        ref = (await pay.get(f"/v1/batches/{bid}/payment-file", headers=FIN_B)).text.splitlines()[1].split(",")[0]
        await pay.post("/v1/statements", json={"reference": "ST-9", "csv": f"payment_ref,amount_fen,status\n"
                                               f"{ref},200000,paid\n"}, headers=FIN_B)
        await deliver(pay, successor(paid, -200_000, outcome="reversed"))
        rows = {r["decision_id"]: r["status"] for r in (await pay.get("/v1/disbursements", headers=FIN_B)).json()}
        assert (rows[unpaid["decision_id"]], rows[paid["decision_id"]]) == ("cancelled", "reversed")
        owed = await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings WHERE account LIKE 'receivable|%'")
        assert owed == 200_000
        # the payee's next payment is netted against what it owes (十四)
        nxt = decision(150_000, person=me)
        await deliver(pay, nxt)
        bid2 = (await pay.post("/v1/batches", json={}, headers=HR_A)).json()["batch_id"]
        await pay.post(f"/v1/batches/{bid2}/approve", headers=HR_C)
        out = (await pay.post(f"/v1/batches/{bid2}/release", headers=FIN_B)).json()
        assert out["cash_fen"] == 0
        paid = await pay.get(f"/v1/decisions/{nxt['decision_id']}/disbursement", headers=FIN_B)
        assert paid.json()["status"] == "paid"
        too_much = await pay.post("/v1/recoveries", headers=FIN_B, json={
            "reference": "RC-1", "source": UI, "district": DISTRICT, "payee_kind": "worker",
            "payee_ref": me, "amount_fen": 50_001})
        assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amount_fen"
        before = (await fund(pay))["balance_fen"]
        ok = await pay.post("/v1/recoveries", headers=FIN_B, json={
            "reference": "RC-2", "source": UI, "district": DISTRICT, "payee_kind": "worker",
            "payee_ref": me, "amount_fen": 50_000})
        assert ok.status_code == 201 and ok.json()["status"] == "drafted"
        assert (await fund(pay))["balance_fen"] == before  # drafted: nothing booked yet
        item = ok.json()["item_id"]
        assert (await pay.post(f"/v1/manual-items/{item}/approve", headers=HR_A)).status_code == 200
        assert (await pay.post(f"/v1/manual-items/{item}/release", headers=FIN_D)).status_code == 200
        assert (await fund(pay))["balance_fen"] == before + 50_000
        assert await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings WHERE account LIKE 'receivable|%'") == 0
        # money conserved: allocated = in the fund + spent net of clawbacks
        spent = await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings WHERE account LIKE 'disbursed|%'")
        assert (await fund(pay))["balance_fen"] + spent == 500_000
