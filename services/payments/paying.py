"""From draft to money: batches, four-eyes approval and release (十二.2), treasury reconciliation,
retries, advances and settlement (十三.5), recoveries (十四).

Every function checks before it writes and raises Problem (4xx, field named) on bad input, so
the caller's transaction rolls back and nothing changes. Callers own the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import disbursements as dm
from services.payments import handlers, store
from services.payments import postings as pg
from services.payments.advances import check_advance, settle
from services.payments.disbursements import Actor, Part, State
from services.payments.entries import failed_tx, paid_tx, recovery_tx, release_tx, reversal_tx
from services.payments.funding import FundingParams, advance_ratio, route_for
from services.payments.ledger import DomainError, Fund, Payee, receivable
from services.payments.treasury import OrderLine, StatementLine
from shared.events import Envelope
from shared.problems import Problem

d = store.disbursements
b = store.batches


# Arrays, not IN lists: one statement text (prepared once) whatever the batch size.
_JOIN_BATCH = sa.text("UPDATE disbursements SET batch_id = :batch, updated_at = now() "
                      "WHERE disbursement_id = ANY(CAST(:ids AS uuid[]))")
_BY_DECISION_PART = sa.text(
    "SELECT d.* FROM disbursements d JOIN unnest(CAST(:decisions AS uuid[]), CAST(:parts AS text[])) "
    "AS k(decision_id, part) USING (decision_id, part) ORDER BY d.disbursement_id FOR UPDATE OF d")


def _role_problem(exc: dm.RoleViolation) -> Problem:
    return Problem(403, "Role not allowed", str(exc), field="role")


# ---- batches -----------------------------------------------------------------------------

async def create_batch(session: AsyncSession, actor: Actor, *, source: str | None = None,
                       district: str | None = None, limit: int = 10_000) -> dict[str, Any]:
    """HR groups reserved, unbatched drafts (optionally of one fund) into a new open batch."""
    try:
        dm.check_approver(actor)
    except dm.RoleViolation as exc:
        raise _role_problem(exc) from exc
    q = sa.select(d.c.disbursement_id, d.c.amount_fen).where(  # queued_seq: the disbursements_unbatched index
        d.c.status == State.RESERVED.value, d.c.batch_id.is_(None), d.c.queued_seq.is_(None))
    if source:
        q = q.where(d.c.source == source)
    if district:
        q = q.where(d.c.district == district)
    rows = (await session.execute(q.order_by(d.c.created_at, d.c.disbursement_id).limit(limit)
                                  .with_for_update(skip_locked=True))).all()
    if not rows:
        raise Problem(409, "Nothing to batch", "no reserved draft is waiting for a batch", field="source")
    batch_id = uuid.uuid4()
    total = sum(r.amount_fen for r in rows)
    await session.execute(sa.insert(b).values(batch_id=batch_id, status="open", items=len(rows),
                                              total_fen=total, created_by=actor.person_id))
    await session.execute(_JOIN_BATCH, {"batch": batch_id, "ids": [r.disbursement_id for r in rows]})
    return {"batch_id": str(batch_id), "status": "open", "items": len(rows), "total_fen": total}


async def _lock_batch(session: AsyncSession, batch_id: uuid.UUID) -> Mapping[str, Any]:
    row = (await session.execute(sa.select(b).where(b.c.batch_id == batch_id).with_for_update())).mappings().first()
    if row is None:
        raise Problem(404, "Unknown batch", f"no batch {batch_id}", field="batch_id")
    return row


async def _items(session: AsyncSession, batch_id: uuid.UUID, status: State) -> list[dict[str, Any]]:
    return pg.dict_rows(await session.execute(
        sa.select(d).where(d.c.batch_id == batch_id, d.c.status == status.value)
        .order_by(d.c.disbursement_id).with_for_update()))


async def approve_batch(session: AsyncSession, batch_id: uuid.UUID, actor: Actor) -> list[Envelope]:
    """人社部门 approves every reserved draft of an open batch."""
    batch = await _lock_batch(session, batch_id)
    try:
        dm.check_approver(actor)
    except dm.RoleViolation as exc:
        raise _role_problem(exc) from exc
    if batch["status"] != "open":
        raise Problem(409, "Batch not open", f"batch {batch_id} is {batch['status']}", field="batch_id")
    rows = await _items(session, batch_id, State.RESERVED)
    for state in {r["status"] for r in rows}:  # the transition depends on the state alone: once per state
        dm.next_state(State(state), dm.Action.APPROVE)
    await pg.set_status(session, rows, State.APPROVED, approved_by=actor.person_id)
    await session.execute(sa.update(b).where(b.c.batch_id == batch_id)
                          .values(status="approved", approved_by=actor.person_id))
    return pg.status_events(rows, State.APPROVED)


@dataclass(frozen=True, slots=True)
class Released:
    events: list[Envelope]
    order: list[OrderLine]


async def release_batch(session: AsyncSession, batch_id: uuid.UUID, actor: Actor) -> Released:
    """财政部门 releases an approved batch: a different person; receivables are netted off (十四)."""
    batch = await _lock_batch(session, batch_id)
    if batch["status"] != "approved":
        raise Problem(409, f"Batch {batch['status']}", f"batch {batch_id} is {batch['status']}, "
                      "only an approved batch can be released", field="batch_id")
    try:
        dm.check_releaser(actor, batch["approved_by"])
    except dm.RoleViolation as exc:
        raise _role_problem(exc) from exc
    rows = await _items(session, batch_id, State.APPROVED)
    await pg.lock_funds(session, {(r["source"], r["district"]) for r in rows})
    items = [pg.to_domain(r) for r in rows]
    for state, approver in {(i.state, i.approved_by) for i in items}:  # the rules see only these two
        dm.check_releaser(actor, approver)
        dm.next_state(state, dm.Action.RELEASE)
    owed = await pg.receivables(session, items)
    txs, offsets = [], []
    for item in items:
        code = receivable(item.fund, item.payee).code
        offset = dm.plan_offset(amount_fen=item.amount_fen, receivable_fen=owed.get(code, 0))
        owed[code] = owed.get(code, 0) - offset
        offsets.append(offset)
        txs.append(release_tx(item.attempt_ref, item.fund, item.clause, item.payee, item.amount_fen, offset))
    await pg.post(session, txs, reserved=pg.sum_by_fund(rows, sign=-1))
    await _mark_released(session, rows, offsets, actor.person_id)
    await session.execute(sa.update(b).where(b.c.batch_id == batch_id)
                          .values(status="released", released_by=actor.person_id))
    events = pg.status_events(rows, State.RELEASED)
    netted = [r for r, o in zip(rows, offsets, strict=True) if o == r["amount_fen"]]
    events += await _settle_paid(session, netted)  # wholly offset: no cash moves, paid at once
    order = [OrderLine(i.attempt_ref, r["payee_kind"], r["payee_ref"], r["amount_fen"] - o)
             for r, o, i in zip(rows, offsets, items, strict=True) if o < r["amount_fen"]]
    return Released(events, order)


async def _mark_released(session: AsyncSession, rows: Sequence[Mapping[str, Any]], offsets: list[int],
                         releaser: str) -> None:
    await session.execute(sa.text(
        "UPDATE disbursements t SET status = 'released', released_by = :who, offset_fen = v.o, "
        "updated_at = now() FROM unnest(CAST(:ids AS uuid[]), CAST(:offs AS bigint[])) AS v(id, o) "
        "WHERE t.disbursement_id = v.id"),
        {"who": releaser, "ids": [r["disbursement_id"] for r in rows], "offs": offsets})


async def order_lines(session: AsyncSession, batch_id: uuid.UUID) -> list[OrderLine]:
    """The payment order of a released batch, for the treasury call and the payment file."""
    rows = await session.execute(sa.select(d).where(
        d.c.batch_id == batch_id, d.c.released_by.is_not(None)).order_by(d.c.disbursement_id))
    return [OrderLine(pg.to_domain(r).attempt_ref, r["payee_kind"], r["payee_ref"],
                      r["amount_fen"] - r["offset_fen"])
            for r in rows.mappings() if r["amount_fen"] > r["offset_fen"]]


# ---- reconciliation ------------------------------------------------------------------------

async def reconcile(session: AsyncSession, reference: str,
                    lines: Sequence[StatementLine]) -> tuple[dict[str, Any], list[Envelope]]:
    """Match every statement line to a released payment: paid or failed; report the rest.

    A statement imported again answers with its stored result and changes nothing.
    """
    done = await session.scalar(sa.select(store.statements.c.result)
                                .where(store.statements.c.reference == reference))
    if done is not None:
        return dict(done), []
    rows = await _rows_for_refs(session, [ln.payment_ref for ln in lines])
    paid, failed, unmatched = [], [], []
    seen: set[str] = set()  # a second line for the same payment in this file is unmatched
    for ln in lines:
        row = rows.get(ln.payment_ref)
        reason = "payment already settled by an earlier line" if ln.payment_ref in seen else _mismatch(row, ln)
        if reason:
            unmatched.append({"line": ln.line_no, "payment_ref": ln.payment_ref, "reason": reason})
            continue
        assert row is not None
        seen.add(ln.payment_ref)
        (paid if ln.status == "paid" else failed).append(row)
    events = await _settle_paid(session, paid) + await _settle_failed(session, failed)
    result = {"reference": reference, "lines": len(lines), "paid": len(paid), "failed": len(failed),
              "unmatched": unmatched}
    await session.execute(sa.insert(store.statements).values(reference=reference, result=result))
    return result, events


async def _rows_for_refs(session: AsyncSession, refs: Sequence[str]) -> dict[str, dict[str, Any]]:
    parsed = {ref: k for ref in refs if (k := _parse_ref(ref))}
    keys = sorted({(k[0], k[1]) for k in parsed.values()})
    if not keys:
        return {}
    found = await session.execute(_BY_DECISION_PART, {"decisions": [k[0] for k in keys],
                                                      "parts": [k[1] for k in keys]})
    by_key = {(r["decision_id"], r["part"]): r for r in pg.dict_rows(found)}
    return {ref: row for ref, k in parsed.items()
            if (row := by_key.get((k[0], k[1]))) is not None and row["attempt"] == k[2]}


def _parse_ref(ref: str) -> tuple[uuid.UUID, str, int] | None:
    """`<decision_id>:<part>#<attempt>`, the Disbursement.attempt_ref the order carried."""
    try:
        key, attempt = ref.rsplit("#", 1)
        decision, part = key.rsplit(":", 1)
        return uuid.UUID(decision), Part(part).value, int(attempt)
    except ValueError:
        return None


def _mismatch(row: Mapping[str, Any] | None, ln: StatementLine) -> str | None:
    if row is None:
        return "no released payment with this reference and attempt"
    if row["status"] != State.RELEASED.value:
        return f"payment is {row['status']}, not awaiting the treasury"
    if row["amount_fen"] - row["offset_fen"] != ln.amount_fen:
        return f"amount {ln.amount_fen} fen differs from the {row['amount_fen'] - row['offset_fen']} fen sent"
    return None


async def _settle_paid(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[Envelope]:
    txs = [tx for r in rows if (tx := paid_tx((i := pg.to_domain(r)).attempt_ref, i.fund, i.payee,
                                              r["amount_fen"] - r["offset_fen"])) is not None]
    await pg.post(session, txs)
    await pg.set_status(session, rows, State.PAID)
    for r in rows:
        r["status"] = State.PAID.value
    events = pg.status_events(rows, State.PAID)
    return events + await handlers.claw_back(session, [r for r in rows if r["clawback_on_paid"]])


async def _settle_failed(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[Envelope]:
    """The treasury refused: the release is undone, money is available again and the queue moves."""
    if not rows:
        return []
    await pg.lock_funds(session, {(r["source"], r["district"]) for r in rows})
    txs = []
    for r in rows:
        i = pg.to_domain(r)
        txs.append(failed_tx(release_tx(i.attempt_ref, i.fund, i.clause, i.payee, i.amount_fen, i.offset_fen)))
    await pg.post(session, txs)
    await pg.set_status(session, rows, State.FAILED)
    admitted = await pg.admit_queues(session, {(r["source"], r["district"]) for r in rows})
    return pg.status_events(rows, State.FAILED) + pg.status_events(admitted, State.RESERVED)


async def retry(session: AsyncSession, disbursement_id: uuid.UUID, actor: Actor) -> list[Envelope]:
    """HR sends a failed payment round again: a fresh reservation (or the queue), a new attempt."""
    try:
        dm.check_approver(actor)
    except dm.RoleViolation as exc:
        raise _role_problem(exc) from exc
    row = (await session.execute(sa.select(d).where(d.c.disbursement_id == disbursement_id)
                                 .with_for_update())).mappings().first()
    if row is None:
        raise Problem(404, "Unknown disbursement", f"no disbursement {disbursement_id}", field="disbursement_id")
    if row["status"] != State.FAILED.value or row["clawback_on_paid"]:
        raise Problem(409, "Cannot retry", f"disbursement is {row['status']}"
                      + (" and its decision no longer stands" if row["clawback_on_paid"] else ""),
                      field="disbursement_id")
    key = (row["source"], row["district"])
    free = (await pg.lock_funds(session, [key]))[key]
    waiting = (await pg.waiting_counts(session, [key])).get(key, 0)
    plan = dm.plan_reservation(available_fen=free, amount_fen=row["amount_fen"], waiting_ahead=waiting)
    again = dm.retry(pg.to_domain(row), reserved=plan.reserve)
    seq = None if plan.reserve else await session.scalar(sa.text("SELECT nextval('disbursement_queue_seq')"))
    await session.execute(sa.update(d).where(d.c.disbursement_id == disbursement_id).values(
        status=again.state.value, attempt=again.attempt, approved_by=None, released_by=None, offset_fen=0,
        batch_id=None, queued_seq=seq, updated_at=sa.func.now()))
    if plan.reserve:
        await pg.move_funds(session, {}, {key: row["amount_fen"]})
    return pg.status_events([dict(row) | {"attempt": again.attempt}], again.state)


# ---- advances and settlement (十三.5), recoveries (十四) ----------------------------------

@dataclass(frozen=True, slots=True)
class AdvanceRequest:
    plan_id: uuid.UUID
    clause: str
    district: str
    payee_ref: str
    planned_fen: int
    advance_fen: int
    on: date


async def draft_advance(session: AsyncSession, funding: FundingParams, a: AdvanceRequest) -> dict[str, Any]:
    try:
        route = route_for(funding, a.clause, a.on)
        if not route.advance_allowed:
            raise DomainError(f"clause {a.clause} may not be paid in advance (十三.5)")
    except DomainError as exc:
        raise Problem(422, "No advance for this clause", str(exc), field="clause") from exc
    try:
        check_advance(a.advance_fen, a.planned_fen, advance_ratio(funding, a.on))
    except DomainError as exc:
        raise Problem(422, "Advance above the cap", str(exc), field="advance_fen") from exc
    req = handlers.DraftRequest(decision_id=a.plan_id, person_key=f"plan:{a.plan_id}", clause=a.clause,
                                amount_fen=a.advance_fen, district=a.district, route=route,
                                payee_ref=a.payee_ref, part=Part.ADVANCE, planned_fen=a.planned_fen)
    events, rows = await handlers.draft_many(session, [req], funding.version)
    if not rows:
        raise Problem(409, "Advance exists", f"plan {a.plan_id} already has an advance", field="plan_id")
    return {"events": events, "disbursement": rows[0]}


async def settle_advance(session: AsyncSession, funding: FundingParams, plan_id: uuid.UUID,
                         earned_fen: int) -> dict[str, Any]:
    """Completion: draft the rest, or turn the unearned advance into a receivable (十三.5)."""
    rows = {r["part"]: dict(r) for r in (await session.execute(
        sa.select(d).where(d.c.decision_id == plan_id).with_for_update())).mappings()}
    advance = rows.get(Part.ADVANCE.value)
    if advance is None:
        raise Problem(404, "Unknown plan", f"no advance for plan {plan_id}", field="plan_id")
    if advance["status"] != State.PAID.value:
        raise Problem(409, "Advance not paid", f"the advance is {advance['status']}", field="plan_id")
    recovered = await session.scalar(sa.select(store.transactions.c.txn_id).where(
        store.transactions.c.kind == "unearned_advance", store.transactions.c.ref == f"{plan_id}:settlement"))
    if Part.SETTLEMENT.value in rows or recovered:
        raise Problem(409, "Already settled", f"plan {plan_id} is settled: it pays at most once", field="plan_id")
    s = settle(earned_fen, advance["amount_fen"])
    item = pg.to_domain(advance)
    if s.pay_fen > 0:
        route = route_for(funding, item.clause, date.today())
        req = handlers.DraftRequest(decision_id=plan_id, person_key=advance["person_key"], clause=item.clause,
                                    amount_fen=s.pay_fen, district=item.fund.district, route=route,
                                    payee_ref=advance["payee_ref"], part=Part.SETTLEMENT,
                                    fixed_source=item.fund.source)
        events, _ = await handlers.draft_many(session, [req], funding.version)
        return {"pay_fen": s.pay_fen, "recover_fen": 0, "events": events}
    if s.recover_fen > 0:
        await pg.post(session, [reversal_tx(f"{plan_id}:settlement", item.fund, item.clause, item.payee,
                                            s.recover_fen, kind="unearned_advance")])
    return {"pay_fen": 0, "recover_fen": s.recover_fen, "events": []}


async def recover(session: AsyncSession, ref: str, fund: Fund, payee: Payee, amount_fen: int) -> list[Envelope]:
    """The payee repaid what it owed: the special account is restored and the queue moves (十四)."""
    owed = (await pg.receivables(session, [_stub(fund, payee)])).get(receivable(fund, payee).code, 0)
    if amount_fen > owed:
        raise Problem(422, "Recovery exceeds what is owed", f"{payee.ref} owes {owed} fen to this fund",
                      field="amount_fen")
    await pg.lock_funds(session, [pg.fund_key(fund)])
    await pg.post(session, [recovery_tx(ref, fund, payee, amount_fen)])
    admitted = await pg.admit_queues(session, [pg.fund_key(fund)])
    return pg.status_events(admitted, State.RESERVED)


def _stub(fund: Fund, payee: Payee) -> dm.Disbursement:
    return dm.Disbursement("", Part.WHOLE, fund, "", payee, 1, State.PAID)
