"""Payments' consumer: decisions, notices' ends, payees' accounts and training plans, one
transaction per batch.

The inbox owns the transaction and handlers never commit. A decision is recorded as received (and
the one it supersedes remembered), then its trigger is reconciled (reconcile.py): drafted, held
with a named reason, or its predecessor's money undone. A V3 approval stands its public notice
(公示) first: it is held `in_notice` until `eligibility.notice.ended` names it. An account, a plan
or a notice's end arriving releases what waited for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import postings as pg
from services.payments import reconcile
from services.payments.claims import PAYEE_KINDS
from services.payments.funding import FundingParams, route_for
from shared.events import (
    Event,
    NoticeEndedV1,
    PayeeAccountRecordedV1,
    Payload,
    SubsidyDecidedV1,
    SubsidyDecidedV2,
    SubsidyDecidedV3,
    TrainingPlanRecordedV1,
)
from shared.inbox import route

if TYPE_CHECKING:
    from shared.app import Runtime

DECISION_COLUMNS = {"decision_id": "uuid", "trigger_id": "uuid", "person_key": "text", "clause": "text",
                    "outcome": "text", "amount_fen": "bigint", "payee_kind": "text", "payee_ref": "text",
                    "district": "text", "decided_on": "date", "class_id": "uuid", "institution_id": "text",
                    "supersedes": "uuid", "ledger_payee_kind": "text", "notice_required": "boolean"}
_DERIVED = ("class_id", "institution_id", "ledger_payee_kind", "notice_required")
_RECORD = pg.unnest_insert("received_decisions", DECISION_COLUMNS, "ON CONFLICT DO NOTHING")
_REMEMBER = sa.text(
    "INSERT INTO superseded_decisions (decision_id, superseded_by) SELECT * FROM unnest("
    "CAST(:old AS uuid[]), CAST(:new AS uuid[])) ON CONFLICT DO NOTHING")
_ENDED = sa.text(
    "INSERT INTO notices_ended (decision_id, published_on, ended_on) SELECT * FROM unnest("
    "CAST(:d AS uuid[]), CAST(:p AS date[]), CAST(:e AS date[])) ON CONFLICT DO NOTHING")


def notice_required(p: SubsidyDecidedV1) -> bool:
    """A V3 approval paying money stands its public notice (公示) before it is payable. The notice's
    end repeats the decision, so an end read before its decision (a replay) records it as such."""
    return isinstance(p, (SubsidyDecidedV3, NoticeEndedV1)) and p.outcome == "approved" and p.amount_fen > 0


async def on_decided(session: AsyncSession, events: Sequence[Event[SubsidyDecidedV1]], runtime: Runtime) -> None:
    """Record the batch's decisions and what they supersede, then reconcile their triggers."""
    decided = [e.payload for e in events]
    # A payable decision whose clause has no funding route on its day is a gap in the funding file:
    # it fails here, so the decision itself is dead-lettered (and replayed once the bureau fixes the
    # file), not whichever later event - an account, a plan - would have drafted it.
    funding: FundingParams = runtime.state["funding"]
    for clause, day in {(p.clause, p.decided_on) for p in decided if p.outcome == "approved" and p.amount_fen > 0}:
        route_for(funding, clause, day)
    columns = {c: [getattr(p, c) for p in decided] for c in DECISION_COLUMNS if c not in _DERIVED}
    # V2 names the trigger's class and its institution (十三.5 plans settle by class); V1 did not.
    columns["class_id"] = [getattr(p, "class_id", None) for p in decided]
    columns["institution_id"] = [getattr(p, "institution_code", None) for p in decided]
    columns["ledger_payee_kind"] = [k.value if (k := PAYEE_KINDS.get(p.payee_kind)) else None for p in decided]
    columns["notice_required"] = [notice_required(p) for p in decided]
    await session.execute(_RECORD, columns)
    ended = [p for p in decided if isinstance(p, NoticeEndedV1)]
    if ended:
        await session.execute(_ENDED, {"d": [p.decision_id for p in ended], "p": [p.notice_published_on for p in ended],
                                       "e": [p.notice_ended_on for p in ended]})
    chain = [p for p in decided if p.supersedes is not None]
    if chain:
        await session.execute(_REMEMBER, {"old": [p.supersedes for p in chain], "new": [p.decision_id for p in chain]})
    await pg.emit(runtime, session, await reconcile.reconcile(session, runtime, [p.trigger_id for p in decided]))


_ACCOUNT = sa.text(
    "INSERT INTO payee_accounts (payee_kind, payee_ref, revision, account_kind, account_cipher, account_masked, "
    "account_name, bank_name, recorded_on) VALUES (:payee_kind, :payee_ref, :revision, :account_kind, "
    ":account_cipher, :account_masked, :account_name, :bank_name, :recorded_on) ON CONFLICT DO NOTHING")
_WAITING_FOR_ACCOUNT = sa.text(
    "SELECT DISTINCT h.trigger_id FROM payment_holds h JOIN unnest(CAST(:kinds AS text[]), "
    "CAST(:refs AS text[])) AS k(payee_kind, payee_ref) USING (payee_kind, payee_ref) "
    "WHERE h.resolved_at IS NULL AND h.reason = 'no_payment_account'")


async def on_account(session: AsyncSession, events: Sequence[Event[PayeeAccountRecordedV1]],
                     runtime: Runtime) -> None:
    """Keep every revision of a payee's account; drafts held for want of it go ahead."""
    accounts = [e.payload for e in events if e.payload.payee_kind in PAYEE_KINDS]
    if not accounts:
        return
    # Stored under the ledger's payee kind, as disbursements and receivables name their payee.
    await session.execute(_ACCOUNT, [a.model_dump() | {"payee_kind": PAYEE_KINDS[a.payee_kind].value}
                                     for a in accounts])
    kinds, refs = [a.payee_kind for a in accounts], [a.payee_ref for a in accounts]
    waiting = (await session.execute(_WAITING_FOR_ACCOUNT, {"kinds": kinds, "refs": refs})).scalars().all()
    await pg.emit(runtime, session, await reconcile.reconcile(session, runtime, waiting))


PLAN_COLUMNS = ("plan_id", "plan_code", "institution_id", "payee_kind", "class_id", "clause", "district",
                "planned_headcount", "standard_per_head_fen", "years", "start_date", "end_date", "revision")
_PLAN = sa.text(
    f"INSERT INTO training_plans ({', '.join(PLAN_COLUMNS)}) VALUES ({', '.join(':' + c for c in PLAN_COLUMNS)}) "
    "ON CONFLICT (plan_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in PLAN_COLUMNS[1:])
    + " WHERE training_plans.revision < excluded.revision")
_OF_CLASSES = sa.text("SELECT DISTINCT trigger_id FROM received_decisions WHERE class_id = ANY(CAST(:c AS uuid[]))")


async def on_plan(session: AsyncSession, events: Sequence[Event[TrainingPlanRecordedV1]], runtime: Runtime) -> None:
    """Keep the plan's latest revision; decisions of its class already received move under it."""
    plans = [e.payload for e in events]
    await session.execute(_PLAN, [{c: getattr(p, c) for c in PLAN_COLUMNS} for p in plans])
    classes: list[uuid.UUID] = sorted({p.class_id for p in plans})
    triggers = (await session.execute(_OF_CLASSES, {"c": classes})).scalars().all()
    await pg.emit(runtime, session, await reconcile.reconcile(session, runtime, triggers))


# Accounts and plans first: a decision in the same batch then finds what it needs. Decisions and
# their notices' ends share one handler, so a decision superseded in the batch that ends its
# notice is judged with its successor (never drafted, then cancelled).
HANDLERS: dict[type[Payload], Any] = {PayeeAccountRecordedV1: on_account, TrainingPlanRecordedV1: on_plan,
                                      SubsidyDecidedV1: on_decided, SubsidyDecidedV2: on_decided,
                                      SubsidyDecidedV3: on_decided, NoticeEndedV1: on_decided}


async def handle(session: AsyncSession, events: Sequence[Event[Any]], runtime: Runtime) -> None:
    """The consumer's batch handler: each payload class to its handler (shared.inbox.route)."""
    for handler, group in route(HANDLERS, events):
        await handler(session, group, runtime)
