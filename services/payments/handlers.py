"""Payments write paths: post balanced transactions, draft disbursements from decisions.

Drafting locks the fund rows it may draw on (in a fixed order, so concurrent drafters never
deadlock), reserves if the fund covers the draft and nobody waits ahead, else queues it FIFO.
A decision drafts at most once (disbursements.decision_id is UNIQUE).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import store
from services.payments.disbursements import admit_waiting, plan_reservation
from services.payments.entries import allocation_tx
from services.payments.funding import FundingParams, route_for
from services.payments.ledger import AccountKind, Fund, FundingSource, Transaction
from shared.events import DisbursementDraftedV1, Envelope, derived_event_id, new_envelope

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "payments"
UNASSIGNED_DISTRICT = "unassigned"


async def post(session: AsyncSession, txs: Sequence[Transaction]) -> None:
    """Append transactions (one statement for all postings) and move the funds' balances."""
    if not txs:
        return
    ids = {tx: uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:txn:{tx.kind}:{tx.ref}") for tx in txs}
    await session.execute(sa.insert(store.transactions).values(
        [{"txn_id": ids[tx], "kind": tx.kind, "ref": tx.ref} for tx in txs]))
    await session.execute(sa.insert(store.postings).values(
        [{"txn_id": ids[tx], "account": p.account.code, "amount_fen": p.amount_fen}
         for tx in txs for p in tx.postings]))
    for tx in txs:
        delta = sum(p.amount_fen for p in tx.postings if p.account.kind is AccountKind.SPECIAL)
        if delta:
            fund = tx.fund
            await session.execute(insert(store.funds).values(
                source=fund.source.value, district=fund.district, balance_fen=delta
            ).on_conflict_do_update(index_elements=["source", "district"],
                                    set_={"balance_fen": store.funds.c.balance_fen + delta}))


async def allocate(session: AsyncSession, ref: str, fund: Fund, amount_fen: int) -> list[uuid.UUID]:
    """Finance credits the special account; waiting drafts of that fund are then reserved in order."""
    await post(session, [allocation_tx(ref, fund, amount_fen)])
    return await admit_queue(session, fund)


async def admit_queue(session: AsyncSession, fund: Fund) -> list[uuid.UUID]:
    row = await _lock_fund(session, fund)
    d = store.disbursements
    waiting = (await session.execute(
        sa.select(d.c.disbursement_id, d.c.amount_fen)
        .where(d.c.source == fund.source.value, d.c.district == fund.district, d.c.status == "waiting")
        .order_by(d.c.queued_seq))).all()
    admitted = admit_waiting(available_fen=row.balance_fen - row.reserved_fen,
                             waiting=[(str(w.disbursement_id), w.amount_fen) for w in waiting])
    if admitted:
        total = sum(w.amount_fen for w in waiting if str(w.disbursement_id) in admitted)
        await _reserve(session, fund, total)
        await session.execute(sa.update(d).where(d.c.disbursement_id.in_([uuid.UUID(a) for a in admitted]))
                              .values(status="reserved", queued_seq=None, updated_at=sa.func.now()))
    return [uuid.UUID(a) for a in admitted]


async def _lock_fund(session: AsyncSession, fund: Fund) -> Any:
    await session.execute(insert(store.funds).values(source=fund.source.value, district=fund.district)
                          .on_conflict_do_nothing())
    return (await session.execute(sa.select(store.funds).where(
        store.funds.c.source == fund.source.value, store.funds.c.district == fund.district)
        .with_for_update())).one()


async def _reserve(session: AsyncSession, fund: Fund, amount_fen: int) -> None:
    await session.execute(sa.update(store.funds).where(
        store.funds.c.source == fund.source.value, store.funds.c.district == fund.district)
        .values(reserved_fen=store.funds.c.reserved_fen + amount_fen))


async def draft(session: AsyncSession, decision: dict[str, Any], funding: FundingParams) -> Envelope | None:
    """Draft one approved decision once; returns the event to emit, or None if already drafted."""
    district = decision.get("district") or UNASSIGNED_DISTRICT
    route = route_for(funding, decision["clause"], dt.date.fromisoformat(decision["decided_on"]))
    chosen, status = None, "waiting"
    for source in route.sources:  # fixed order: every drafter locks funds in the same sequence
        fund = Fund(FundingSource(source), district)
        row = await _lock_fund(session, fund)
        waiting = await _waiting_count(session, fund)
        plan = plan_reservation(available_fen=row.balance_fen - row.reserved_fen,
                                amount_fen=decision["amount_fen"], waiting_ahead=waiting)
        if plan.reserve:
            chosen, status = fund, "reserved"
            break
    fund = chosen or Fund(FundingSource(route.sources[0]), district)
    disbursement_id = derived_event_id("disbursement", decision["decision_id"])
    values = {"disbursement_id": disbursement_id, "decision_id": uuid.UUID(str(decision["decision_id"])),
              "person_key": decision["person_key"], "clause": decision["clause"],
              "amount_fen": decision["amount_fen"], "source": fund.source.value, "district": district,
              "payee_kind": route.payee_kind.value, "payee_ref": decision.get("payee_ref") or decision["person_key"],
              "status": status, "funding_version": funding.version}
    stmt = insert(store.disbursements).values(**values).on_conflict_do_nothing(index_elements=["decision_id"])
    if (await session.execute(stmt.returning(store.disbursements.c.disbursement_id))).first() is None:
        return None
    if status == "reserved":
        await _reserve(session, fund, decision["amount_fen"])
    else:
        await session.execute(sa.update(store.disbursements)
                              .where(store.disbursements.c.disbursement_id == disbursement_id)
                              .values(queued_seq=sa.text("nextval('disbursement_queue_seq')")))
    payload = DisbursementDraftedV1(disbursement_id=disbursement_id, decision_id=values["decision_id"],
                                    person_key=values["person_key"], clause=values["clause"],
                                    amount_fen=values["amount_fen"], funding_source=fund.source.value,
                                    district=district, status=status)
    return new_envelope(payload, key=values["person_key"], producer=PRODUCER,
                        event_id=derived_event_id("drafted", disbursement_id))


async def _waiting_count(session: AsyncSession, fund: Fund) -> int:
    d = store.disbursements
    return int(await session.scalar(sa.select(sa.func.count()).select_from(d).where(
        d.c.source == fund.source.value, d.c.district == fund.district, d.c.status == "waiting")) or 0)


async def handle(session: AsyncSession, events: Sequence[Envelope], runtime: Runtime) -> None:
    out: list[Envelope] = []
    for env in events:
        if env.type != "eligibility.subsidy.decided":
            continue
        p = env.payload
        if p["outcome"] == "approved" and p["amount_fen"] > 0:
            drafted = await draft(session, p, runtime.state["funding"])
            if drafted is not None:
                out.append(drafted)
    await runtime.emit(session, out)
