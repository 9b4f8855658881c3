"""Manual items: money that moves on a person's word, not on a decision. Maker-checker (十二.2):
one person drafts (hr or finance), hr approves (not the drafter), finance releases (neither of
them); only the release touches the ledger.

- allocation: the finance bureau's credit into the special account (十二.1); waiting drafts of the
  fund are then reserved in order;
- recovery: a payee repaid what it owed (a claw-back, 十四, or an unearned 十三.5 advance).

Callers own the transaction; every check runs before any write and raises Problem (4xx, field named).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import disbursements as dm
from services.payments import postings as pg
from services.payments import store
from services.payments.disbursements import Actor, State
from services.payments.entries import allocation_tx, recovery_tx
from services.payments.ledger import Fund, Payee, PayeeKind, receivable
from shared.events import StagedEvent
from shared.problems import Problem

m = store.manual_items


class ManualKind(StrEnum):
    ALLOCATION = "allocation"
    RECOVERY = "recovery"


def item_id_for(kind: ManualKind, reference: str) -> uuid.UUID:
    return pg.uuid5_url(f"skillsub:manual:{kind}:{reference}")


def _role_problem(exc: dm.RoleViolation) -> Problem:
    return Problem(403, "Role not allowed", str(exc), field="role")


async def owed(session: AsyncSession, fund: Fund, payee: Payee) -> int:
    """What the payee owes this fund (十四), from the postings."""
    stub = dm.Disbursement("", dm.Part.WHOLE, fund, "", payee, 1, State.PAID)
    return (await pg.receivables(session, [stub])).get(receivable(fund, payee).code, 0)


async def draft(session: AsyncSession, actor: Actor, kind: ManualKind, reference: str, fund: Fund,
                amount_fen: int, payee: Payee | None = None) -> dict[str, Any]:
    """Record a drafted item; nothing moves until it is approved and released."""
    try:
        dm.check_drafter(actor)
    except dm.RoleViolation as exc:
        raise _role_problem(exc) from exc
    if await _booked(session, kind, reference):
        raise Problem(409, f"{kind.capitalize()} already recorded", f"reference {reference} exists", field="reference")
    if kind is ManualKind.RECOVERY:
        assert payee is not None
        await _within_owed(session, fund, payee, amount_fen)
    row = {"item_id": item_id_for(kind, reference), "kind": kind.value, "reference": reference,
           "source": fund.source.value, "district": fund.district, "payee_kind": payee and payee.kind.value,
           "payee_ref": payee and payee.party_id, "amount_fen": amount_fen, "status": "drafted",
           "drafted_by": actor.person_id}
    created = await session.scalar(insert(m).values(**row).on_conflict_do_nothing().returning(m.c.item_id))
    if created is None:
        raise Problem(409, f"{kind.capitalize()} already recorded", f"reference {reference} exists",
                      field="reference")
    return _read(row)


async def _booked(session: AsyncSession, kind: ManualKind, reference: str) -> bool:
    """An allocation recorded before manual items existed is a ledger transaction with that reference."""
    t = store.transactions
    found = await session.scalar(sa.select(t.c.txn_id).where(t.c.kind == kind.value, t.c.ref == reference))
    return found is not None


async def _within_owed(session: AsyncSession, fund: Fund, payee: Payee, amount_fen: int) -> None:
    have = await owed(session, fund, payee)
    if amount_fen > have:
        raise Problem(422, "Recovery exceeds what is owed", f"{payee.ref} owes {have} fen to this fund",
                      field="amount_fen")


async def _lock(session: AsyncSession, item_id: uuid.UUID) -> Mapping[str, Any]:
    row = (await session.execute(sa.select(m).where(m.c.item_id == item_id).with_for_update())).mappings().first()
    if row is None:
        raise Problem(404, "Unknown item", f"no manual item {item_id}", field="item_id")
    return row


async def approve(session: AsyncSession, item_id: uuid.UUID, actor: Actor) -> dict[str, Any]:
    """hr approves an item someone else drafted."""
    row = await _lock(session, item_id)
    try:
        dm.check_item_approver(actor, row["drafted_by"])
    except dm.RoleViolation as exc:
        raise _role_problem(exc) from exc
    if row["status"] != "drafted":
        raise Problem(409, "Item not awaiting approval", f"item {item_id} is {row['status']}", field="item_id")
    await session.execute(sa.update(m).where(m.c.item_id == item_id).values(
        status="approved", approved_by=actor.person_id, updated_at=sa.func.now()))
    return _read(dict(row) | {"status": "approved", "approved_by": actor.person_id})


async def release(session: AsyncSession, item_id: uuid.UUID, actor: Actor) -> tuple[dict[str, Any], list[StagedEvent]]:
    """finance (neither drafter nor approver) releases: the ledger moves and the fund's queue with it."""
    row = await _lock(session, item_id)
    try:
        dm.check_item_releaser(actor, row["drafted_by"], row["approved_by"])
    except dm.RoleViolation as exc:
        raise _role_problem(exc) from exc
    if row["status"] != "approved":
        raise Problem(409, "Item not approved", f"item {item_id} is {row['status']}", field="item_id")
    fund = pg.fund_of(row["source"], row["district"])
    await pg.lock_funds(session, [pg.fund_key(fund)])
    if row["kind"] == ManualKind.ALLOCATION:
        tx = allocation_tx(row["reference"], fund, row["amount_fen"])
    else:
        payee = Payee(PayeeKind(row["payee_kind"]), row["payee_ref"])
        await _within_owed(session, fund, payee, row["amount_fen"])  # netted meanwhile: refuse, not overdraw
        tx = recovery_tx(row["reference"], fund, payee, row["amount_fen"])
    await pg.post(session, [tx])
    admitted = await pg.admit_queues(session, [pg.fund_key(fund)])
    await session.execute(sa.update(m).where(m.c.item_id == item_id).values(
        status="released", released_by=actor.person_id, updated_at=sa.func.now()))
    read = _read(dict(row) | {"status": "released", "released_by": actor.person_id})
    return read | {"admitted_drafts": [str(a["disbursement_id"]) for a in admitted]}, \
        pg.status_events(admitted, State.RESERVED)


def _read(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"item_id": str(row["item_id"]), "kind": row["kind"], "reference": row["reference"],
            "source": row["source"], "district": row["district"], "payee_kind": row.get("payee_kind"),
            "payee_ref": row.get("payee_ref"), "amount_fen": row["amount_fen"], "status": row["status"],
            "drafted_by": row["drafted_by"], "approved_by": row.get("approved_by"),
            "released_by": row.get("released_by")}


async def list_items(session: AsyncSession, status: str | None, limit: int) -> list[dict[str, Any]]:
    q = sa.select(m).order_by(m.c.created_at, m.c.item_id).limit(limit)
    if status:
        q = q.where(m.c.status == status)
    return [_read(r) for r in (await session.execute(q)).mappings()]
