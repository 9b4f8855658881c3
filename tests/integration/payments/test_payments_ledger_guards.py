"""The ledger cannot be edited, verify-ledger sees drift, and every manual item needs three people."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from services.payments import postings as pg
from services.payments.ledger import Fund, FundingSource, clearing, special
from shared.db import make_engine
from shared.roles import APPEND_ONLY
from tests.conftest import bearer
from tests.integration.payments.payments_fixtures import (
    DISTRICT,
    FIN_B,
    FIN_D,
    HR_A,
    HR_C,
    UI,
    allocate,
    decision,
    deliver,
    payments,
    release_batch,
    scalar,
    statement,
    verification,
)

pytestmark = pytest.mark.usefixtures("drop_test_databases")


async def _refused(client, sql: str) -> str:
    async with client.runtime.maker() as session:
        with pytest.raises(DBAPIError) as caught:
            await session.execute(sa.text(sql))
        await session.rollback()
    return str(caught.value)


async def _refused_to_owner(settings, sql: str) -> str:
    """The same statement as payments' owner role (migrations, grants): only the triggers stop it."""
    engine = make_engine(settings.migration_url_for("payments"), pool_size=1)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()
    return str(caught.value)


async def _paid_ledger(pay) -> None:
    await allocate(pay, 500_000)
    await deliver(pay, decision(100_000), decision(200_000))
    _, rows = await release_batch(pay)
    await statement(pay, rows)


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_postings SET amount_fen = amount_fen + 1",
    "DELETE FROM ledger_postings",
    "TRUNCATE ledger_postings CASCADE",
    "UPDATE ledger_transactions SET ref = 'x'",
    "DELETE FROM ledger_transactions",
    "TRUNCATE ledger_transactions CASCADE",
    "UPDATE disbursements SET amount_fen = amount_fen + 1",
    "UPDATE disbursements SET payee_ref = 'someone-else'",
    "DELETE FROM disbursements",
    "UPDATE manual_items SET amount_fen = 1",
    "DELETE FROM manual_items",
    "UPDATE payee_accounts SET account_cipher = 'x'",
])
async def test_postings_transactions_and_drafted_amounts_refuse_edits(settings, sql: str) -> None:
    """The runtime role is refused (its grants for the append-only tables, shared/roles.py, else the
    triggers); the owner role too, by the triggers: no role edits the ledger."""
    async with payments(settings) as pay:
        await _paid_ledger(pay)
        table = sql.split()[2] if sql.startswith(("DELETE", "TRUNCATE")) else sql.split()[1]
        refused = await _refused(pay, sql)
        frozen = table in APPEND_ONLY["payments"] or sql.startswith("TRUNCATE")
        assert ("permission denied" if frozen else "append-only") in refused, refused
        assert "append-only" in await _refused_to_owner(settings, sql)
        assert (await verification(pay))["drift"] == []


HOT = Fund(FundingSource(UI), DISTRICT)


async def _copy_refused(pay, postings: list[tuple[uuid.UUID, str, int]], txns: list[uuid.UUID]) -> str:
    """Rows sent by the ledger's own COPY path (pg.copy_rows, what pg.post uses), bypassing the
    domain's balance check: only the database stands in the way."""
    async with pay.runtime.maker() as session:
        with pytest.raises(asyncpg.PostgresError) as caught:  # COPY runs on the raw asyncpg connection
            await pg.copy_rows(session, "ledger_transactions", ["txn_id", "kind", "ref"],
                               [(t, "release", f"forged-{t}") for t in txns])
            await pg.copy_rows(session, "ledger_postings", ["txn_id", "account", "amount_fen"], postings)
            await session.commit()
        await session.rollback()
    return str(caught.value)


async def test_a_copied_batch_with_one_unbalanced_transaction_is_refused_whole(settings) -> None:
    """The statement-level trigger sees the whole COPY: one transaction of a thousand that does not
    sum to zero fails them all, and nothing of the batch is left behind."""
    async with payments(settings) as pay:
        await _paid_ledger(pay)
        before = await scalar(pay, "SELECT count(*) FROM ledger_postings")
        txns = [uuid.uuid4() for _ in range(1_000)]
        rows = [row for t in txns for row in ((t, clearing(HOT).code, 100), (t, special(HOT).code, -100))]
        rows[-1] = (txns[-1], special(HOT).code, -99)
        assert "does not balance" in await _copy_refused(pay, rows, txns)
        assert await scalar(pay, "SELECT count(*) FROM ledger_postings") == before
        assert (await verification(pay))["drift"] == []


async def test_a_copied_posting_of_an_unrecorded_transaction_is_refused_whole(settings) -> None:
    """No foreign key checks postings row by row (migration a9c4e2b7d153): the statement-level
    trigger refuses a batch in which one balanced transaction of a thousand was never recorded,
    with the foreign-key SQLSTATE, and nothing of the batch is left behind."""
    async with payments(settings) as pay:
        await _paid_ledger(pay)
        before = await scalar(pay, "SELECT count(*) FROM ledger_postings")
        txns = [uuid.uuid4() for _ in range(1_000)]
        rows = [row for t in txns for row in ((t, clearing(HOT).code, 100), (t, special(HOT).code, -100))]
        async with pay.runtime.maker() as session:
            with pytest.raises(asyncpg.ForeignKeyViolationError, match="not recorded"):
                await pg.copy_rows(session, "ledger_transactions", ["txn_id", "kind", "ref"],
                                   [(t, "release", f"forged-{t}") for t in txns[:-1]])  # the last one missing
                await pg.copy_rows(session, "ledger_postings", ["txn_id", "account", "amount_fen"], rows)
            await session.rollback()
        assert await scalar(pay, "SELECT count(*) FROM ledger_postings") == before
        assert await scalar(pay, "SELECT count(*) FROM pg_constraint WHERE conrelid = "
                            "'ledger_postings'::regclass AND contype = 'f'") == 0  # the check is the trigger's
        assert (await verification(pay))["drift"] == []


async def test_a_ledger_transaction_copied_twice_is_refused(settings) -> None:
    """A replayed step that would post the same transaction again fails on its id (never pays twice)."""
    async with payments(settings) as pay:
        await _paid_ledger(pay)
        paid = await scalar(pay, "SELECT txn_id FROM ledger_transactions WHERE kind = 'paid' LIMIT 1")
        refused = await _copy_refused(pay, [(paid, clearing(HOT).code, 1), (paid, special(HOT).code, -1)], [paid])
        assert "duplicate key" in refused, refused
        assert await scalar(pay, "SELECT count(*) FROM ledger_transactions WHERE txn_id = :t", t=paid) == 1


async def test_status_moves_still_work_and_corrections_are_new_entries(settings) -> None:
    async with payments(settings) as pay:
        await _paid_ledger(pay)
        async with pay.runtime.maker() as session:
            await session.execute(sa.text("UPDATE disbursements SET updated_at = now()"))  # no drafted column set
            await session.commit()
        assert await scalar(pay, "SELECT count(*) FROM disbursements WHERE status = 'paid'") == 2


async def _cli(settings) -> subprocess.CompletedProcess[str]:
    """`skillsub verify-ledger` as an operator runs it, against this test's payments database."""
    env = os.environ | {"PAYMENTS_DATABASE_URL": settings.database_url_for("payments"), "SKILLSUB_ENV": "test"}
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "shared.cli", "verify-ledger"], env=env,
                                   capture_output=True, text=True, timeout=120)


async def test_verify_ledger_reports_a_fund_edited_behind_the_ledgers_back(settings) -> None:
    async with payments(settings) as pay:
        await _paid_ledger(pay)
        report = await verification(pay)
        assert report["ok"] and report["checked"]["triggers_settled"] == 2 and report["checked"]["disbursements"] == 2
        healthy = await _cli(settings)
        assert healthy.returncode == 0 and "verified" in healthy.stdout, healthy.stdout + healthy.stderr
        async with pay.runtime.maker() as session:
            await session.execute(sa.text("UPDATE funds SET balance_fen = balance_fen + 1, reserved_fen = 7"))
            await session.execute(sa.text("UPDATE disbursements SET status = 'released' WHERE amount_fen = 100000"))
            await session.commit()
        drift = (await verification(pay))["drift"]
        assert {d["check"] for d in drift} == {"fund_balance", "fund_reserved", "status_history"}
        assert (await pay.get("/v1/ledger/verification", headers=FIN_B)).status_code == 403  # auditors only
        drifted = await _cli(settings)
        assert drifted.returncode == 1 and "DRIFT in 3 place(s)" in drifted.stdout, drifted.stdout


async def test_an_allocation_is_drafted_approved_by_another_hr_and_released_by_a_third_person(settings) -> None:
    async with payments(settings) as pay:
        body = {"reference": "CZ-2020-0001", "source": UI, "district": DISTRICT, "amount_fen": 300_000}
        drafted = await pay.post("/v1/allocations", json=body, headers=FIN_B)
        assert drafted.status_code == 201 and drafted.json()["status"] == "drafted"
        item = drafted.json()["item_id"]
        assert await scalar(pay, "SELECT count(*) FROM ledger_transactions") == 0  # nothing booked yet
        for who, why in ((FIN_B, "role"), (bearer("fin-bob", "hr"), "drafted")):
            refused = await pay.post(f"/v1/manual-items/{item}/approve", headers=who)
            assert refused.status_code == 403 and why in refused.text, refused.text
        early = await pay.post(f"/v1/manual-items/{item}/release", headers=FIN_D)
        assert early.status_code == 403  # no approval yet
        assert (await pay.post(f"/v1/manual-items/{item}/approve", headers=HR_A)).status_code == 200
        for who in (HR_C, FIN_B, bearer("hr-alice", "finance")):  # hr; the drafter; the approver
            assert (await pay.post(f"/v1/manual-items/{item}/release", headers=who)).status_code == 403
        released = await pay.post(f"/v1/manual-items/{item}/release", headers=FIN_D)
        assert released.status_code == 200 and released.json()["status"] == "released"
        assert (await pay.post(f"/v1/manual-items/{item}/release", headers=FIN_D)).status_code == 409
        assert await scalar(pay, "SELECT balance_fen FROM funds") == 300_000
        again = await pay.post("/v1/allocations", json=body, headers=HR_C)
        assert again.status_code == 409 and again.json()["errors"][0]["field"] == "reference"
        listed = (await pay.get("/v1/manual-items", headers=FIN_B)).json()
        assert [(i["drafted_by"], i["approved_by"], i["released_by"]) for i in listed] == [
            ("fin-bob", "hr-alice", "fin-dora")]
