"""The consumer's batch shape: statements per consumed batch do not grow with the batch."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

from services.payments import handlers
from services.payments import postings as pg
from services.payments.postings import uuid5_url
from shared.events import SubsidyDecidedV2, new_envelope
from tests.integration.payments.payments_fixtures import (
    account,
    allocate,
    decision,
    deliver,
    deliver_events,
    payments,
    successor,
)

AMOUNT = 10_000
_COPY_ROWS = pg.copy_rows  # the real one, wrapped per batch below


async def _statements_for(pay: Any, payloads: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement handle() sends for one consumed batch (as the inbox would call it), the
    ledger's COPYs on the raw connection (postings.copy_rows) included as `COPY INTO <table>`."""
    envs = [new_envelope(SubsidyDecidedV2.model_validate(p), key=p["person_key"], producer="eligibility",
                         event_id=uuid.UUID(p["decision_id"])) for p in payloads]
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    async def copy_rows(session: Any, table: str, columns: list[str], rows: Any) -> None:
        seen.append(f"COPY INTO {table}")
        await _COPY_ROWS(session, table, columns, rows)

    monkeypatch.setattr(pg, "copy_rows", copy_rows)

    async with pay.runtime.maker() as session:
        conn = (await session.connection()).sync_connection  # this batch's connection, not the relay's
        event.listen(conn, "before_cursor_execute", record)
        try:
            await handlers.handle(session, [e.typed() for e in envs], pay.runtime)
            await session.commit()
        finally:
            event.remove(conn, "before_cursor_execute", record)
    return seen


def _writes(statements: list[str]) -> Counter[str]:
    return Counter(" ".join(s.split()[:3]) for s in statements if s.split()[0] in ("INSERT", "UPDATE", "COPY"))


@pytest.mark.usefixtures("drop_test_databases")
async def test_a_consumed_batch_sends_the_same_statements_for_four_decisions_as_for_two_hundred(
        settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with payments(settings) as pay:
        await allocate(pay, 2 * AMOUNT)
        old = [decision(AMOUNT) for _ in range(2)]
        await deliver(pay, *old, decision(AMOUNT), decision(AMOUNT))  # the fund is now fully reserved and two
        # drafts wait: each batch below retires one old draft, whose money goes to the head of the queue
        small = [decision(AMOUNT) for _ in range(3)] + [successor(old[0], AMOUNT + 1)]
        big = [decision(AMOUNT) for _ in range(199)] + [successor(old[1], AMOUNT + 1)]
        await deliver_events(pay, *(account(pay, d["payee_ref"]) for d in small + big))  # registry sent them before
        few, many = await _statements_for(pay, small, monkeypatch), await _statements_for(pay, big, monkeypatch)
        assert len(few) == len(many), (few, many)
        assert _writes(few) == _writes(many)
        written = _writes(many)
        assert written["COPY INTO disbursements"] == 1 and written["INSERT INTO outbox"] == 1  # drafts: one COPY
        assert not any(" IN (" in s for s in many)  # arrays, not one bound parameter per row


@given(st.text(max_size=200))
def test_uuid5_url_is_uuid5_in_the_url_namespace(name: str) -> None:
    assert uuid5_url(name) == uuid.uuid5(uuid.NAMESPACE_URL, name)
