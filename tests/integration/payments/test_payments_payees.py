"""The right payee, never twice: payments against a real PostgreSQL and broker, through its API.

Decisions arrive as eligibility sends them (naming their payee), accounts as the registry sends
them (number encrypted); money moves through batches, the payment file and treasury statements.
"""

from __future__ import annotations

import pytest

from tests.accounts import bank_account, card_number
from tests.integration.payments.payments_fixtures import (
    ENTERPRISE,
    FIN_B,
    account,
    allocate,
    decision,
    deliver,
    deliver_events,
    fund,
    held,
    payments,
    release_batch,
    scalar,
    statement,
    successor,
    verification,
    worker,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")


def held_metric(text: str, reason: str) -> float:
    prefix = f'skillsub_payments_held_decisions{{reason="{reason}"}} '
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


async def test_an_enterprise_is_held_until_its_account_arrives_then_paid_to_its_bank_account_not_the_worker(
        settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 1_000_000)
        apprentice = worker()
        d = decision(500_000, clause="四.7", person=apprentice, payee_kind="enterprise", payee_ref=ENTERPRISE)
        await deliver(pay, d, accounts=False)
        assert await held(pay) == {d["decision_id"]: "no_payment_account"}
        assert held_metric((await pay.get("/metrics")).text, "no_payment_account") == 1.0
        status = (await pay.get(f"/v1/decisions/{d['decision_id']}/payment", headers=FIN_B)).json()
        assert status["hold"]["reason"] == "no_payment_account" and status["disbursements"] == []
        assert (await fund(pay))["reserved_fen"] == 0

        await deliver_events(pay, account(pay, ENTERPRISE, kind="enterprise"))
        assert await held(pay) == {}
        assert held_metric((await pay.get("/metrics")).text, "no_payment_account") == 0.0
        _, rows = await release_batch(pay)
        assert [(r["payee_kind"], r["payee_ref"], r["account_kind"], r["account_number"], r["amount_fen"])
                for r in rows] == [("enterprise", ENTERPRISE, "bank_account", bank_account(1), "500000")]
        assert await scalar(pay, "SELECT count(*) FROM disbursements WHERE payee_ref = :p", p=apprentice) == 0
        await statement(pay, rows)
        assert (await verification(pay))["drift"] == []


async def test_a_decision_naming_no_payee_is_held_and_never_paid_to_the_worker_instead(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 1_000_000)
        unknown = decision(300_000, clause="五.3", payee_kind="enterprise", payee_ref=None)
        await deliver(pay, unknown)
        assert await held(pay) == {unknown["decision_id"]: "payee_unknown"}
        assert await scalar(pay, "SELECT count(*) FROM disbursements") == 0
        named = successor(unknown, 300_000, payee_ref=ENTERPRISE)
        await deliver(pay, named)  # eligibility re-decides once the enterprise is known
        assert await held(pay) == {}
        rows = await scalar(pay, "SELECT string_agg(payee_kind || ':' || payee_ref, ',') FROM disbursements")
        assert rows == f"enterprise:{ENTERPRISE}"


async def test_a_successor_waits_while_its_predecessor_is_in_flight_and_only_the_difference_moves(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 1_000_000)
        first = decision(100_000)
        await deliver(pay, first)
        _, rows = await release_batch(pay)  # released: the treasury has not answered yet
        higher = successor(first, 130_000)
        await deliver(pay, higher)
        assert await held(pay) == {higher["decision_id"]: "predecessor_in_flight"}
        assert await scalar(pay, "SELECT count(*) FROM disbursements") == 1  # nothing drafted beside it
        await statement(pay, rows)  # the first is paid: clawed back, and the successor goes ahead
        assert await held(pay) == {}
        statuses = dict((r[0], r[1]) for r in await _rows(pay, "SELECT decision_id::text, status FROM disbursements"))
        assert statuses == {first["decision_id"]: "reversed", higher["decision_id"]: "reserved"}
        _, rows2 = await release_batch(pay)
        assert [r["amount_fen"] for r in rows2] == ["30000"]  # 130,000 owed less the 100,000 already paid
        await statement(pay, rows2)
        cash = await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings p JOIN ledger_transactions t "
                                 "USING (txn_id) WHERE t.kind = 'paid' AND p.account LIKE 'payable|%'")
        assert cash == 130_000
        report = await verification(pay)
        assert report["drift"] == [] and report["checked"]["triggers_settled"] == 1


async def test_a_successor_of_a_failed_payment_is_paid_in_full_and_the_failure_is_never_retried(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 1_000_000)
        first = decision(100_000)
        await deliver(pay, first)
        _, rows = await release_batch(pay)
        higher = successor(first, 130_000)
        await deliver(pay, higher)
        await statement(pay, rows, status="failed")
        money = dict(await _rows(pay, "SELECT decision_id::text, disbursement_id::text FROM disbursements"))
        retry = await pay.post(f"/v1/disbursements/{money[first['decision_id']]}/retry",
                               headers=pay_hr())
        assert retry.status_code == 409
        _, rows2 = await release_batch(pay)
        assert [r["amount_fen"] for r in rows2] == ["130000"]
        await statement(pay, rows2)
        assert (await verification(pay))["drift"] == []


async def test_a_lower_redecision_leaves_the_overpayment_owed_and_a_recovery_settles_it(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 1_000_000)
        first = decision(100_000)
        await deliver(pay, first)
        _, rows = await release_batch(pay)
        await statement(pay, rows)
        lower = successor(first, 60_000)
        await deliver(pay, lower)
        _, rows2 = await release_batch(pay)
        assert rows2 == []  # wholly netted off the 100,000 paid: no cash moves
        owed = await scalar(pay, "SELECT sum(amount_fen) FROM ledger_postings WHERE account LIKE 'receivable|%'")
        assert owed == 40_000
        report = await verification(pay)
        assert report["drift"] == [] and report["checked"]["triggers_settled"] == 1


async def test_a_predecessor_arriving_after_its_successor_is_never_drafted(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 1_000_000)
        first = decision(100_000)
        second = successor(first, 120_000)
        await deliver(pay, second)  # the original was dead-lettered and is replayed later
        await deliver(pay, first)
        amounts = [r[0] for r in await _rows(pay, "SELECT amount_fen FROM disbursements")]
        assert amounts == [120_000]
        status = (await pay.get(f"/v1/decisions/{first['decision_id']}/payment", headers=FIN_B)).json()
        assert status["superseded_by"] == second["decision_id"] and status["disbursements"] == []
        third = successor(second, 90_000)
        fourth = successor(third, 80_000)
        await deliver(pay, fourth)  # the chain names a decision payments has not seen
        assert (await held(pay))[fourth["decision_id"]] == "earlier_decision_missing"
        await deliver(pay, third)
        assert await held(pay) == {}
        current = await _rows(pay, "SELECT amount_fen, status FROM disbursements ORDER BY created_at")
        assert current == [(120_000, "cancelled"), (80_000, "reserved")]


async def test_a_revocation_releases_a_reserved_draft_at_once_and_the_queue_moves(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 100_000)
        reserved, waiting = decision(100_000), decision(100_000)
        await deliver(pay, reserved, waiting)
        assert ((await fund(pay))["available_fen"], (await fund(pay))["waiting"]) == (0, 1)
        await deliver(pay, successor(reserved, -100_000, outcome="reversed"))
        statuses = dict(await _rows(pay, "SELECT decision_id::text, status FROM disbursements"))
        assert statuses == {reserved["decision_id"]: "cancelled", waiting["decision_id"]: "reserved"}
        f = await fund(pay)
        assert (f["reserved_fen"], f["waiting"]) == (100_000, 0)
        assert (await verification(pay))["drift"] == []


async def test_decisions_redelivered_change_nothing(settings) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 1_000_000)
        ds = [decision(10_000 * (i + 1)) for i in range(5)]
        await deliver(pay, *ds)
        before = await _rows(pay, "SELECT decision_id, status, amount_fen FROM disbursements ORDER BY 1")
        await deliver(pay, *ds, *ds)
        assert await _rows(pay, "SELECT decision_id, status, amount_fen FROM disbursements ORDER BY 1") == before
        assert card_number(1) not in str(await _rows(pay, "SELECT * FROM payee_accounts"))  # stored encrypted


def pay_hr() -> dict[str, str]:
    from tests.integration.payments.payments_fixtures import HR_A

    return dict(HR_A)


async def _rows(client, sql: str) -> list[tuple]:
    import sqlalchemy as sa

    async with client.runtime.maker() as session:
        return [tuple(r) for r in await session.execute(sa.text(sql))]
