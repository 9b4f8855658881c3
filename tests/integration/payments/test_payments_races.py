"""Concurrency against the real database: drafters racing for a short fund, repeated requests."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import bearer
from tests.integration.payments.payments_fixtures import (
    DISTRICT,
    FIN_B,
    FIN_D,
    HR_A,
    UI,
    allocate,
    decision,
    deliver,
    fund,
    payments,
    scalar,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")
AMOUNT = 10_000


async def test_ten_drafters_racing_for_a_fund_worth_a_third_of_demand_reserve_exactly_what_it_affords(
        settings) -> None:
    async with payments(settings.model_copy(update={"db_pool_size": 12})) as pay:
        drafters, each = 10, 30
        demand = drafters * each * AMOUNT
        await allocate(pay, demand // 3)
        batches = [[decision(AMOUNT) for _ in range(each)] for _ in range(drafters)]
        # each drafter also redelivers a neighbour's decisions: the same decision from two drafters at once
        await asyncio.gather(*(deliver(pay, *b, *batches[(i + 1) % drafters][:3]) for i, b in enumerate(batches)))
        f = await fund(pay)
        assert f["available_fen"] >= 0 and f["balance_fen"] == demand // 3
        reserved = await scalar(pay, "SELECT count(*) FROM disbursements WHERE status = 'reserved'")
        assert reserved == drafters * each // 3 and f["reserved_fen"] == reserved * AMOUNT
        assert await scalar(pay, "SELECT count(*) FROM disbursements") == drafters * each
        assert f["waiting"] == drafters * each - reserved
        queued = await scalar(pay, "SELECT count(DISTINCT queued_seq) FROM disbursements WHERE status = 'waiting'")
        assert queued == f["waiting"]  # every waiting draft holds its own place in the queue


async def test_fifty_identical_requests_with_one_idempotency_key_have_one_effect(settings) -> None:
    async with payments(settings.model_copy(update={"db_pool_size": 25})) as pay:
        body = {"reference": "CZ-IDEM-1", "source": UI, "district": DISTRICT, "amount_fen": 123_456}
        headers = FIN_B | {"Idempotency-Key": f"idem-{uuid.uuid4()}"}
        answers = await asyncio.gather(*(pay.post("/v1/allocations", json=body, headers=headers)
                                         for _ in range(50)))
        assert {r.status_code for r in answers} == {201}
        assert len({r.text for r in answers}) == 1
        assert await scalar(pay, "SELECT count(*) FROM manual_items") == 1
        item = answers[0].json()["item_id"]
        assert (await pay.post(f"/v1/manual-items/{item}/approve", headers=HR_A)).status_code == 200
        release = FIN_D | {"Idempotency-Key": f"idem-{uuid.uuid4()}"}
        released = await asyncio.gather(*(pay.post(f"/v1/manual-items/{item}/release", headers=release)
                                          for _ in range(20)))
        assert {r.status_code for r in released} == {200}
        assert (await fund(pay))["balance_fen"] == 123_456
        assert await scalar(pay, "SELECT count(*) FROM ledger_transactions WHERE kind = 'allocation'") == 1
        other = await pay.post("/v1/allocations", json=body | {"amount_fen": 1}, headers=headers)
        assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
        another_client = bearer("fin-dora", "finance") | {"Idempotency-Key": headers["Idempotency-Key"]}
        borrowed = await pay.post("/v1/allocations", json=body, headers=another_client)
        assert borrowed.status_code == 422  # a key belongs to its client: no replay of another's answer
        without_key = await pay.post("/v1/allocations", json=body, headers=FIN_B)
        assert without_key.status_code == 409 and without_key.json()["errors"][0]["field"] == "reference"
        assert (await fund(pay))["balance_fen"] == 123_456


async def test_bad_input_is_refused_with_the_field_named_and_changes_nothing(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 50_000)
        unknown = await pay.post(f"/v1/batches/{uuid.uuid4()}/approve", headers=FIN_B)
        assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "batch_id"
        nobody = await pay.post("/v1/allocations", json={"reference": "CZ-X", "source": UI, "district": DISTRICT,
                                                         "amount_fen": 5})
        assert nobody.status_code == 401 and nobody.headers["www-authenticate"].startswith("Bearer")
        wrong_role = await pay.post("/v1/allocations", headers=bearer("x", "institution"),
                                    json={"reference": "CZ-X", "source": UI, "district": DISTRICT, "amount_fen": 5})
        assert wrong_role.status_code == 403
        assert (await pay.get("/v1/disbursements")).status_code == 401  # payees are personal data
        assert (await pay.get("/v1/disbursements", headers=bearer("i", "institution"))).status_code == 403
        assert (await pay.get("/v1/fund-use")).status_code == 200  # 公开资金使用情况 is public
        unknown_decision = await pay.get(f"/v1/decisions/{uuid.uuid4()}/disbursement", headers=FIN_B)
        assert unknown_decision.status_code == 404 and unknown_decision.json()["errors"][0]["field"] == "decision_id"
        no_retry = await pay.post(f"/v1/disbursements/{uuid.uuid4()}/retry",
                                  headers=bearer("h", "hr"))
        assert no_retry.status_code == 404
        assert (await fund(pay))["balance_fen"] == 50_000
        assert await scalar(pay, "SELECT count(*) FROM ledger_transactions") == 1
        assert await scalar(pay, "SELECT count(*) FROM manual_items WHERE reference = 'CZ-X'") == 0
        # an overdraw can only wait, it never reserves beyond the fund
        await deliver(pay, decision(60_000))
        f = await fund(pay)
        assert (f["reserved_fen"], f["waiting"]) == (0, 1)
