"""Drafting disbursements and clawing paid ones back: the writes every payment path shares.

Drafting is batch-wide: the funds every draft may draw on are row-locked once, in (source,
district) order, the reservations are planned in memory with the pure rules (choose_source /
plan_reservation, FIFO wait), and drafts, reservations and events are written with one statement
each. A decision pays at most once: UNIQUE(decision_id, part) on disbursements. Callers own the
transaction.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import postings as pg
from services.payments.disbursements import Action, Part, State, next_state, plan_reservation
from services.payments.entries import reversal_tx
from services.payments.funding import FundingRoute, choose_source
from services.payments.ledger import FundingSource, Payee
from services.payments.postings import FundKey
from shared.events import DisbursementDraftedV1, StagedEvent

UNASSIGNED_DISTRICT = "unassigned"
# The columns a draft writes (COPY; the others take their defaults: attempt 1, offset 0, created_at ...).
DRAFT_COLUMNS = ["disbursement_id", "decision_id", "part", "person_key", "clause", "amount_fen", "source",
                 "district", "payee_kind", "payee_ref", "status", "funding_version", "planned_fen", "queued_seq",
                 "trigger_id", "drafted_by"]
# Arrays through unnest / ANY: one statement text (prepared once) for any batch size.
_DRAFTED = sa.text(
    "SELECT d.decision_id, d.part FROM disbursements d JOIN unnest(CAST(:decisions AS uuid[]), "
    "CAST(:parts AS text[])) AS k(decision_id, part) USING (decision_id, part)")
@dataclass(frozen=True, slots=True)
class DraftRequest:
    """One disbursement to draft: a whole decision, or an advance / settlement part (十三.5)."""

    decision_id: uuid.UUID
    person_key: str
    clause: str
    amount_fen: int
    district: str
    route: FundingRoute
    payee: Payee
    part: Part = Part.WHOLE
    planned_fen: int | None = None
    fixed_source: FundingSource | None = None  # a settlement is paid by the fund of its advance
    trigger_id: uuid.UUID | None = None
    drafted_by: str | None = None  # a manual item's maker: never its approver or releaser


def _sources(r: DraftRequest) -> tuple[FundingSource, ...]:
    return (r.fixed_source,) if r.fixed_source else r.route.sources


async def draft_many(session: AsyncSession, requests: Sequence[DraftRequest], funding_version: str,
                     checked: bool = False) -> tuple[list[StagedEvent], list[dict[str, Any]]]:
    """Draft every request not yet drafted; returns (drafted events, inserted rows). `checked`: the
    caller already knows none is drafted (it holds their triggers' locks and read their money);
    UNIQUE(decision_id, part) still refuses a second draft."""
    if not requests:
        return [], []
    keys = {(s.value, r.district) for r in requests for s in _sources(r)}
    available = await pg.lock_funds(session, keys)  # lock first: same-decision drafters serialise here
    fresh = _first_of_each(requests) if checked else await _not_yet_drafted(session, requests)
    waiting = await pg.waiting_counts(session, keys)
    rows = _plan(fresh, available, waiting, funding_version)
    await _assign_queue_numbers(session, [r for r in rows if r["status"] == State.WAITING.value])
    await _insert_drafts(session, rows)
    reserved = [r for r in rows if r["status"] == State.RESERVED.value]
    await pg.move_funds(session, {}, pg.sum_by_fund(reserved))
    return _drafted_events(rows), rows


async def _insert_drafts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """One COPY for any number of drafts, in the caller's transaction (postings.copy_rows: every
    constraint applies; a draft of a decision already drafted fails the batch on its UNIQUE)."""
    if rows:
        await pg.copy_rows(session, "disbursements", DRAFT_COLUMNS, [tuple(r[c] for c in DRAFT_COLUMNS) for r in rows])


def _first_of_each(requests: Sequence[DraftRequest]) -> list[DraftRequest]:
    seen: set[tuple[uuid.UUID, str]] = set()
    out = []
    for r in requests:
        if (r.decision_id, r.part.value) not in seen:
            seen.add((r.decision_id, r.part.value))
            out.append(r)
    return out


async def _not_yet_drafted(session: AsyncSession, requests: Sequence[DraftRequest]) -> list[DraftRequest]:
    wanted = sorted({(r.decision_id, r.part.value) for r in requests})
    have = await session.execute(_DRAFTED, {"decisions": [w[0] for w in wanted], "parts": [w[1] for w in wanted]})
    seen = {(r[0], r[1]) for r in have}
    out = []
    for r in requests:  # also drops duplicates inside the batch (redelivery)
        if (r.decision_id, r.part.value) not in seen:
            seen.add((r.decision_id, r.part.value))
            out.append(r)
    return out


def _plan(requests: Sequence[DraftRequest], available: dict[FundKey, int], waiting: dict[FundKey, int],
          funding_version: str) -> list[dict[str, Any]]:
    """Reserve in arrival order while money lasts; a draft nobody can cover waits in its primary queue."""
    free, queued = dict(available), defaultdict(int, waiting)
    rows = []
    for r in requests:
        route = r.route if not r.fixed_source else _only(r.route, r.fixed_source)
        by_source = {s: free.get((s.value, r.district), 0) for s in route.sources}
        queue = {s: queued[(s.value, r.district)] for s in route.sources}
        source = choose_source(route, r.amount_fen, by_source, queue)
        key = (source.value, r.district)
        reserve = plan_reservation(available_fen=free.get(key, 0), amount_fen=r.amount_fen,
                                   waiting_ahead=queued[key]).reserve
        if reserve:
            free[key] -= r.amount_fen
        else:
            queued[key] += 1
        rows.append(_row(r, source, State.RESERVED if reserve else State.WAITING, funding_version))
    return rows


def _only(route: FundingRoute, source: FundingSource) -> FundingRoute:
    return FundingRoute(route.clause, route.validity, (source,), route.advance_allowed)


def _row(r: DraftRequest, source: FundingSource, status: State, version: str) -> dict[str, Any]:
    # derived_event_id("disbursement", decision[, part]), by the cheaper uuid5_url
    return {"disbursement_id": pg.uuid5_url(f"skillsub:disbursement:{r.decision_id}:{r.part}")
            if r.part is not Part.WHOLE else pg.uuid5_url(f"skillsub:disbursement:{r.decision_id}"),
            "decision_id": r.decision_id, "part": r.part.value, "person_key": r.person_key,
            "clause": r.clause, "amount_fen": r.amount_fen, "source": source.value, "district": r.district,
            "payee_kind": r.payee.kind.value, "payee_ref": r.payee.party_id, "status": status.value,
            "funding_version": version, "planned_fen": r.planned_fen, "queued_seq": None,
            "trigger_id": r.trigger_id, "drafted_by": r.drafted_by}


async def _assign_queue_numbers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        seqs = (await session.execute(sa.text(
            "SELECT nextval('disbursement_queue_seq') FROM generate_series(1, :n)"), {"n": len(rows)})).scalars()
        for row, seq in zip(rows, sorted(seqs), strict=True):
            row["queued_seq"] = seq


def _drafted_events(rows: Sequence[Mapping[str, Any]]) -> list[StagedEvent]:
    # derived_event_id("drafted", disbursement id), by the cheaper uuid5_url
    return pg.disbursement_events(DisbursementDraftedV1, rows,
                                  [pg.uuid5_text(f"skillsub:drafted:{r['disbursement_id']}") for r in rows],
                                  [r["status"] for r in rows])


# ---- claw-back (十四) ---------------------------------------------------------------------

async def claw_back(session: AsyncSession, paid: Sequence[Mapping[str, Any]]) -> list[StagedEvent]:
    """A paid disbursement becomes a receivable from its payee (十四); later payments net it off."""
    if not paid:
        return []
    txs = []
    for r in paid:
        item = pg.to_domain(r)
        next_state(item.state, Action.REVERSE)
        txs.append(reversal_tx(item.key, item.fund, item.clause, item.payee, item.amount_fen))
    await pg.post(session, txs)
    await pg.set_status(session, paid, State.REVERSED, clawback_on_paid=True)
    return pg.status_events(paid, State.REVERSED)
