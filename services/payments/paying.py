"""From draft to money: batches, four-eyes approval and release (十二.2), the treasury order and
its reconciliation, retries. Advances and settlement (十三.5) are in plans.py, manual items
(allocations, recoveries) in manual.py.

Every function checks before it writes and raises Problem (4xx, field named) on bad input, so
the caller's transaction rolls back and nothing changes. Callers own the transaction.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import disbursements as dm
from services.payments import postings as pg
from services.payments import store
from services.payments.disbursements import Actor, Part, State
from services.payments.entries import failed_tx, paid_tx, release_tx
from services.payments.ledger import receivable
from services.payments.reconcile import after_treasury
from services.payments.treasury import OrderLine, StatementLine
from shared.events import StagedEvent
from shared.pii import decrypt_pii
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime

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


async def approve_batch(session: AsyncSession, batch_id: uuid.UUID, actor: Actor) -> list[StagedEvent]:
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
    _four_eyes(actor, {r["drafted_by"] for r in rows})
    await pg.set_status(session, rows, State.APPROVED, approved_by=actor.person_id)
    await session.execute(sa.update(b).where(b.c.batch_id == batch_id)
                          .values(status="approved", approved_by=actor.person_id))
    return pg.status_events(rows, State.APPROVED)


@dataclass(frozen=True, slots=True)
class Released:
    events: list[StagedEvent]
    payments: int  # lines sent to the treasury (a wholly offset item moves no cash)
    cash_fen: int


async def release_batch(session: AsyncSession, runtime: Runtime, batch_id: uuid.UUID, actor: Actor) -> Released:
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
        try:
            dm.check_releaser(actor, approver)
        except dm.RoleViolation as exc:
            raise _role_problem(exc) from exc
        dm.next_state(state, dm.Action.RELEASE)
    _four_eyes(actor, {r["drafted_by"] for r in rows})
    revisions = await _accounts_in_force(session, rows)
    codes = [receivable(i.fund, i.payee).code for i in items]  # once an item (release_tx names it again)
    owed = await pg.receivable_balances(session, codes)
    txs, offsets = [], []
    for item, code in zip(items, codes, strict=True):
        offset = dm.plan_offset(amount_fen=item.amount_fen, receivable_fen=owed.get(code, 0))
        owed[code] = owed.get(code, 0) - offset
        offsets.append(offset)
        txs.append(release_tx(item.attempt_ref, item.fund, item.clause, item.payee, item.amount_fen, offset))
    await pg.post(session, txs, reserved=pg.sum_by_fund(rows, sign=-1))
    await _mark_released(session, rows, offsets, revisions, actor.person_id)
    await session.execute(sa.update(b).where(b.c.batch_id == batch_id)
                          .values(status="released", released_by=actor.person_id))
    events = pg.status_events(rows, State.RELEASED)
    netted = [r for r, o in zip(rows, offsets, strict=True) if o == r["amount_fen"]]
    events += await _settle_paid(session, runtime, netted)  # wholly offset: no cash moves, paid at once
    cash = sum(r["amount_fen"] - o for r, o in zip(rows, offsets, strict=True))
    return Released(events, sum(1 for r, o in zip(rows, offsets, strict=True) if o < r["amount_fen"]), cash)


def _four_eyes(actor: Actor, drafters: set[str | None]) -> None:
    """Whoever drafted a manual item (a 十三.5 advance or settlement) neither approves nor releases it."""
    if actor.person_id in drafters:
        raise Problem(403, "Maker cannot check", f"{actor.person_id} drafted an item of this batch and may not "
                      f"{'approve' if actor.role is dm.Role.HR else 'release'} it", field="role")


_IN_FORCE = sa.text(
    "SELECT DISTINCT ON (a.payee_kind, a.payee_ref) a.payee_kind, a.payee_ref, a.revision FROM payee_accounts a "
    "JOIN unnest(CAST(:kinds AS text[]), CAST(:refs AS text[])) AS k(payee_kind, payee_ref) "
    "USING (payee_kind, payee_ref) ORDER BY a.payee_kind, a.payee_ref, a.revision DESC")


async def _accounts_in_force(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """The account each payment goes to, fixed when finance releases it (a later change moves the next)."""
    wanted = sorted({(r["payee_kind"], r["payee_ref"]) for r in rows})
    found = {(k, p): rev for k, p, rev in await session.execute(
        _IN_FORCE, {"kinds": [w[0] for w in wanted], "refs": [w[1] for w in wanted]})} if wanted else {}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise Problem(409, "No payment account", f"{len(missing)} payee(s) of this batch have no account on "
                      "record", field="batch_id")
    return [found[(r["payee_kind"], r["payee_ref"])] for r in rows]


async def _mark_released(session: AsyncSession, rows: Sequence[Mapping[str, Any]], offsets: list[int],
                         revisions: list[int], releaser: str) -> None:
    await session.execute(sa.text(
        "UPDATE disbursements t SET status = 'released', released_by = :who, offset_fen = v.o, "
        "account_revision = v.a, updated_at = now() FROM unnest(CAST(:ids AS uuid[]), CAST(:offs AS bigint[]), "
        "CAST(:accs AS int[])) AS v(id, o, a) WHERE t.disbursement_id = v.id"),
        {"who": releaser, "ids": [r["disbursement_id"] for r in rows], "offs": offsets, "accs": revisions})


_ORDER = sa.text(
    "SELECT d.decision_id, d.part, d.attempt, d.clause, d.source, d.district, d.payee_kind, d.payee_ref, "
    "d.amount_fen - d.offset_fen AS cash_fen, a.account_kind, a.account_cipher, a.account_name, a.bank_name "
    "FROM disbursements d JOIN payee_accounts a ON (a.payee_kind, a.payee_ref, a.revision) = "
    "(d.payee_kind, d.payee_ref, d.account_revision) WHERE d.batch_id = :batch AND d.released_by IS NOT NULL "
    "AND d.amount_fen > d.offset_fen ORDER BY d.disbursement_id")


async def order_lines(session: AsyncSession, pii_key: bytes, batch_id: uuid.UUID) -> list[OrderLine]:
    """The payment order of a released batch, for the treasury call and the payment file: each line
    to the account in force at release, its number decrypted only here."""
    return [OrderLine(payment_ref=f"{r.decision_id}:{r.part}#{r.attempt}", decision_id=str(r.decision_id),
                      part=r.part, attempt=r.attempt, clause=r.clause, source=r.source, district=r.district,
                      payee_kind=r.payee_kind, payee_ref=r.payee_ref, account_kind=r.account_kind,
                      account_number=decrypt_pii(pii_key, base64.b64decode(r.account_cipher)),
                      account_name=r.account_name, bank_name=r.bank_name, amount_fen=r.cash_fen)
            for r in await session.execute(_ORDER, {"batch": batch_id})]


# ---- reconciliation ------------------------------------------------------------------------

async def reconcile(session: AsyncSession, runtime: Runtime, reference: str,
                    lines: Sequence[StatementLine]) -> tuple[dict[str, Any], list[StagedEvent]]:
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
    events = await _settle_paid(session, runtime, paid) + await _settle_failed(session, runtime, failed)
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
        if part not in _PART_VALUES:  # a set lookup, not an Enum call, per statement line
            return None
        return uuid.UUID(decision), part, int(attempt)
    except ValueError:
        return None


_PART_VALUES = frozenset(p.value for p in Part)


def _mismatch(row: Mapping[str, Any] | None, ln: StatementLine) -> str | None:
    if row is None:
        return "no released payment with this reference and attempt"
    if row["status"] != State.RELEASED.value:
        return f"payment is {row['status']}, not awaiting the treasury"
    if row["amount_fen"] - row["offset_fen"] != ln.amount_fen:
        return f"amount {ln.amount_fen} fen differs from the {row['amount_fen'] - row['offset_fen']} fen sent"
    return None


async def _settle_paid(session: AsyncSession, runtime: Runtime, rows: Sequence[dict[str, Any]]) -> list[StagedEvent]:
    txs = [tx for r in rows if (tx := paid_tx((i := pg.to_domain(r)).attempt_ref, i.fund, i.payee,
                                              r["amount_fen"] - r["offset_fen"])) is not None]
    await pg.post(session, txs)
    await pg.set_status(session, rows, State.PAID)
    for r in rows:
        r["status"] = State.PAID.value
    events = pg.status_events(rows, State.PAID)
    return events + await after_treasury(session, runtime, rows)  # claw back what no longer stands


async def _settle_failed(session: AsyncSession, runtime: Runtime, rows: Sequence[dict[str, Any]]) -> list[StagedEvent]:
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
    events = pg.status_events(rows, State.FAILED) + pg.status_events(admitted, State.RESERVED)
    return events + await after_treasury(session, runtime, rows)  # a successor that waited goes ahead


async def retry(session: AsyncSession, disbursement_id: uuid.UUID,
                actor: Actor) -> tuple[State, list[StagedEvent]]:
    """HR sends a failed payment round again: a fresh reservation (or the queue), a new attempt;
    returns its new state and the event saying so."""
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
    return again.state, pg.status_events([dict(row) | {"attempt": again.attempt}], again.state)
