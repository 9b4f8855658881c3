"""Payments event handling: decisions become drafts, superseded and reversed decisions are undone.

One transaction per consumed batch (the inbox owns it; handlers never commit). Drafting is
batch-wide: the funds every draft may draw on are row-locked once, in (source, district) order,
the reservations are planned in memory with the pure rules (choose_source / plan_reservation,
FIFO wait), and drafts, reservations and events are written with one statement each.
A decision pays at most once: UNIQUE(decision_id, part) on disbursements.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import postings as pg
from services.payments.disbursements import Action, Part, State, next_state, plan_reservation
from services.payments.entries import allocation_tx, reversal_tx
from services.payments.funding import FundingParams, FundingRoute, choose_source, route_for
from services.payments.ledger import Fund, FundingSource
from services.payments.postings import FundKey
from shared.events import (
    DisbursementDraftedV1,
    Envelope,
    Event,
    NoticeEndedV1,
    Payload,
    SubsidyDecidedV1,
    SubsidyDecidedV2,
    SubsidyDecidedV3,
    new_envelope,
)
from shared.inbox import route

if TYPE_CHECKING:
    from shared.app import Runtime

UNASSIGNED_DISTRICT = "unassigned"
DRAFT_COLUMNS = {"disbursement_id": "uuid", "decision_id": "uuid", "part": "text", "person_key": "text",
                 "clause": "text", "amount_fen": "bigint", "source": "text", "district": "text",
                 "payee_kind": "text", "payee_ref": "text", "status": "text", "funding_version": "text",
                 "planned_fen": "bigint", "queued_seq": "bigint"}
_INSERT_DRAFTS = sa.text(
    f"INSERT INTO disbursements ({', '.join(DRAFT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in DRAFT_COLUMNS.items()) + ")")
UNPAID = (State.WAITING, State.RESERVED, State.APPROVED)
# Arrays through unnest / ANY: one statement text (prepared once) for any batch size.
_DRAFTED = sa.text(
    "SELECT d.decision_id, d.part FROM disbursements d JOIN unnest(CAST(:decisions AS uuid[]), "
    "CAST(:parts AS text[])) AS k(decision_id, part) USING (decision_id, part)")
_OF_DECISIONS = sa.text(
    "SELECT * FROM disbursements WHERE decision_id = ANY(CAST(:ids AS uuid[])) AND NOT clawback_on_paid "
    "ORDER BY disbursement_id FOR UPDATE")
_FLAG = sa.text("UPDATE disbursements SET clawback_on_paid = true, updated_at = now() "
                "WHERE disbursement_id = ANY(CAST(:ids AS uuid[]))")


@dataclass(frozen=True, slots=True)
class DraftRequest:
    """One disbursement to draft: a whole decision, or an advance / settlement part (十三.5)."""

    decision_id: uuid.UUID
    person_key: str
    clause: str
    amount_fen: int
    district: str
    route: FundingRoute
    payee_ref: str
    part: Part = Part.WHOLE
    planned_fen: int | None = None
    fixed_source: FundingSource | None = None  # a settlement is paid by the fund of its advance


def request_from_decision(p: SubsidyDecidedV1, funding: FundingParams,
                          route: FundingRoute | None = None) -> DraftRequest:
    route = route or route_for(funding, p.clause, p.decided_on)
    return DraftRequest(
        decision_id=p.decision_id, person_key=p.person_key, clause=p.clause,
        amount_fen=p.amount_fen, district=p.district or UNASSIGNED_DISTRICT, route=route,
        payee_ref=p.payee_ref or p.person_key)


def requests_from_decisions(payloads: Sequence[SubsidyDecidedV1], funding: FundingParams) -> list[DraftRequest]:
    """request_from_decision for a batch: the route is looked up once per (clause, decision date)."""
    routes: dict[tuple[str, dt.date], FundingRoute] = {}
    out = []
    for p in payloads:
        key = (p.clause, p.decided_on)
        if key not in routes:
            routes[key] = route_for(funding, *key)
        out.append(request_from_decision(p, funding, routes[key]))
    return out


def _sources(r: DraftRequest) -> tuple[FundingSource, ...]:
    return (r.fixed_source,) if r.fixed_source else r.route.sources


async def draft_many(session: AsyncSession, requests: Sequence[DraftRequest],
                     funding_version: str) -> tuple[list[Envelope], list[dict[str, Any]]]:
    """Draft every request not yet drafted; returns (drafted events, inserted rows)."""
    if not requests:
        return [], []
    keys = {(s.value, r.district) for r in requests for s in _sources(r)}
    available = await pg.lock_funds(session, keys)  # lock first: same-decision drafters serialise here
    fresh = await _not_yet_drafted(session, requests)
    waiting = await pg.waiting_counts(session, keys)
    rows = _plan(fresh, available, waiting, funding_version)
    await _assign_queue_numbers(session, [r for r in rows if r["status"] == State.WAITING.value])
    await _insert_drafts(session, rows)
    reserved = [r for r in rows if r["status"] == State.RESERVED.value]
    await pg.move_funds(session, {}, pg.sum_by_fund(reserved))
    return [_drafted_event(r) for r in rows], rows


async def _insert_drafts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """One statement for any number of drafts (unnest: one array parameter per column)."""
    if rows:
        await session.execute(_INSERT_DRAFTS, {c: [r[c] for r in rows] for c in DRAFT_COLUMNS})


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
    return FundingRoute(route.clause, route.validity, route.payee_kind, (source,), route.advance_allowed)


def _row(r: DraftRequest, source: FundingSource, status: State, version: str) -> dict[str, Any]:
    # derived_event_id("disbursement", decision[, part]), by the cheaper uuid5_url
    return {"disbursement_id": pg.uuid5_url(f"skillsub:disbursement:{r.decision_id}:{r.part}")
            if r.part is not Part.WHOLE else pg.uuid5_url(f"skillsub:disbursement:{r.decision_id}"),
            "decision_id": r.decision_id, "part": r.part.value, "person_key": r.person_key,
            "clause": r.clause, "amount_fen": r.amount_fen, "source": source.value, "district": r.district,
            "payee_kind": r.route.payee_kind.value, "payee_ref": r.payee_ref, "status": status.value,
            "funding_version": version, "planned_fen": r.planned_fen, "queued_seq": None}


async def _assign_queue_numbers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        seqs = (await session.execute(sa.text(
            "SELECT nextval('disbursement_queue_seq') FROM generate_series(1, :n)"), {"n": len(rows)})).scalars()
        for row, seq in zip(rows, sorted(seqs), strict=True):
            row["queued_seq"] = seq


def _drafted_event(r: Mapping[str, Any]) -> Envelope:
    payload = DisbursementDraftedV1(
        disbursement_id=r["disbursement_id"], decision_id=r["decision_id"], person_key=r["person_key"],
        clause=r["clause"], amount_fen=r["amount_fen"], funding_source=r["source"], district=r["district"],
        status=r["status"])
    return new_envelope(payload, key=r["person_key"], producer=pg.PRODUCER,
                        event_id=pg.uuid5_url(f"skillsub:drafted:{r['disbursement_id']}"))


# ---- superseded and reversed decisions (十四) ------------------------------------------------

async def retire(session: AsyncSession, decision_ids: Sequence[uuid.UUID]) -> list[Envelope]:
    """Undo disbursements of decisions that no longer stand: cancel unpaid, claw back paid.

    Released but unconfirmed money is flagged: it is clawed back when the treasury confirms it.
    """
    if not decision_ids:
        return []
    rows = pg.dict_rows(await session.execute(_OF_DECISIONS, {"ids": sorted(set(decision_ids))}))
    if not rows:
        return []
    await pg.lock_funds(session, {(r["source"], r["district"]) for r in rows})
    by_state: dict[State, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_state[State(r["status"])].append(r)
    cancelled = [r for s in UNPAID for r in by_state[s]]
    holding = by_state[State.RESERVED] + by_state[State.APPROVED]
    await pg.set_status(session, cancelled, State.CANCELLED, queued_seq=None, clawback_on_paid=True)
    await pg.move_funds(session, {}, pg.sum_by_fund(holding, sign=-1))
    await _flag(session, by_state[State.RELEASED] + by_state[State.FAILED])
    events = pg.status_events(cancelled, State.CANCELLED) + await claw_back(session, by_state[State.PAID])
    admitted = await pg.admit_queues(session, {(r["source"], r["district"]) for r in holding})
    return events + pg.status_events(admitted, State.RESERVED)


async def _flag(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await session.execute(_FLAG, {"ids": [r["disbursement_id"] for r in rows]})


async def claw_back(session: AsyncSession, paid: Sequence[Mapping[str, Any]]) -> list[Envelope]:
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


# ---- money in ----------------------------------------------------------------------------

async def allocate(session: AsyncSession, ref: str, fund: Fund, amount_fen: int) -> list[dict[str, Any]]:
    """Finance credits the special account; waiting drafts of that fund are then reserved in order."""
    await pg.lock_funds(session, [pg.fund_key(fund)])
    await pg.post(session, [allocation_tx(ref, fund, amount_fen)])
    return await pg.admit_queues(session, [pg.fund_key(fund)])


# ---- the consumer ------------------------------------------------------------------------

def payable(p: SubsidyDecidedV1) -> bool:
    """What drafts: `eligibility.notice.ended` (the public notice (公示) of an approval ended
    without an open objection), and V1 / V2 approvals, which were payable as decided. A V3
    approval only opens its notice; payments waits for the payable event."""
    if isinstance(p, NoticeEndedV1):
        return p.amount_fen > 0
    return not isinstance(p, SubsidyDecidedV3) and p.outcome == "approved" and p.amount_fen > 0


async def on_decided(session: AsyncSession, events: Sequence[Event[SubsidyDecidedV1]], runtime: Runtime) -> None:
    """Draft what is payable and retire superseded decisions, for the whole batch at once (one
    handler for decided and payable events: drafting before retiring, whatever their order in the
    batch, undoes a payable decision that a later one in the batch superseded)."""
    funding: FundingParams = runtime.state["funding"]
    decided = [e.payload for e in events]
    requests = requests_from_decisions([p for p in decided if payable(p)], funding)
    out, _ = await draft_many(session, requests, funding.version)
    out += await retire(session, [p.supersedes for p in decided if p.supersedes
                                  and not isinstance(p, NoticeEndedV1)])
    await pg.emit(runtime, session, out)


HANDLERS: dict[type[Payload], Any] = {  # V2 and V3 add fields; V3 approvals are drafted on payable
    SubsidyDecidedV1: on_decided, SubsidyDecidedV2: on_decided, SubsidyDecidedV3: on_decided,
    NoticeEndedV1: on_decided}


async def handle(session: AsyncSession, events: Sequence[Event[Any]], runtime: Runtime) -> None:
    """The consumer's batch handler: each payload class to its handler (shared.inbox.route)."""
    for handler, group in route(HANDLERS, events):
        await handler(session, group, runtime)
