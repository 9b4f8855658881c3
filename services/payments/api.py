"""Payments REST API: the actor, Idempotency-Key, funds, disbursements, holds, fund use, and the
auditors' ledger verification.

Batches and statements are in api_batches.py, allocations and recoveries (manual items) in
api_manual.py, 十三.5 advances and settlements in api_plans.py. Every POST accepts an
`Idempotency-Key`: the key is claimed in the same transaction as the effect, so 50 identical
concurrent requests give one effect and 50 identical answers; the same key with another body is
refused (422, field Idempotency-Key).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import fund_use, store, verify
from services.payments import postings as pg
from services.payments.claims import HoldReason
from services.payments.disbursements import Actor, Role, State
from shared.app import SessionDep
from shared.auth import (
    AuthPrincipal,
    OptionalPrincipalDep,
    PrincipalDep,
    principal_of,
    require_roles,
)
from shared.clock import nantong_today
from shared.disclosure import min_cell_on, suppress
from shared.money import fen_to_yuan
from shared.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["payments"])
# Free-text ids go into PostgreSQL text columns, which refuse NUL (a 500 before this pattern).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


# ---- who is acting -------------------------------------------------------------------------
# The bearer token (shared/auth.py) names the client and its role; each staff member holds their
# own client, so the client id is the person the four-eyes rule compares.

async def current_actor(principal: PrincipalDep) -> Actor:  # async: no threadpool hop
    try:
        return Actor(principal.client_id, Role(principal.role))
    except ValueError:
        raise Problem(403, "Role not allowed", f"payments needs role {' or '.join(r.value for r in Role)}; "
                      f"the token's role is {principal.role}", field="role") from None


ActorDep = Annotated[Actor, Depends(current_actor)]
# Disbursements name payees and person keys: staff and auditors only. Fund balances and the public
# fund-use summary (公开资金使用情况) carry no personal data and stay open.
STAFF_READ = require_roles("hr", "finance", "bureau", "auditor")
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=8, max_length=128)]


def require(actor: Actor, role: Role) -> None:
    if actor.role is not role:
        raise Problem(403, "Role not allowed", f"this needs role {role.value}; {actor.person_id} acts as "
                      f"{actor.role.value}", field="role")


# ---- Idempotency-Key -------------------------------------------------------------------------

Outcome = tuple[int, dict[str, Any]]


def _client_of(request: Request) -> str:
    principal = principal_of(request)  # verified by the route's bearer dependency
    return principal.client_id if principal else ""


async def once(request: Request, session: AsyncSession, key: str | None,
               run: Callable[[], Awaitable[Outcome]]) -> tuple[JSONResponse, bool]:
    """Run the effect and commit, or replay the stored answer of the same key; (response, fresh)."""
    if key:
        digest = hashlib.sha256(request.method.encode() + request.url.path.encode() + await request.body())
        # The key belongs to the client that sent it: another client reusing it is a different request.
        digest.update(_client_of(request).encode())
        claimed = await session.scalar(insert(store.idempotency).values(
            key=key, scope=request.url.path, request_hash=digest.hexdigest()).on_conflict_do_nothing()
            .returning(store.idempotency.c.key))
        if claimed is None:  # the first request with this key has committed (the insert waited for it)
            row = (await session.execute(sa.select(store.idempotency)
                                         .where(store.idempotency.c.key == key))).mappings().one()
            if row["request_hash"] != digest.hexdigest():
                raise Problem(422, "Idempotency-Key reused", "this key was used with a different request",
                              field="Idempotency-Key")
            return JSONResponse(row["response"], status_code=row["status_code"]), False
    status, body = await run()
    if key:  # answer with the stored form, so the first answer and every replay are byte-identical
        body = await session.scalar(sa.update(store.idempotency).where(store.idempotency.c.key == key)
                                    .values(status_code=status, response=body)
                                    .returning(store.idempotency.c.response))
    await session.commit()
    return JSONResponse(body, status_code=status), True


# ---- funds ----------------------------------------------------------------------------------

# The waiting queue counts disbursements, so people: public callers get it suppressed, and no live
# money (fund_use.py says why; docs/small-cells.md). Staff who may list the disbursements themselves
# (fund_use.EXACT_READERS) read both exact.


async def _waiting_table(session: AsyncSession, reader: AuthPrincipal | None
                         ) -> tuple[list[dict[str, Any]], int | None]:
    """The funds rows with `waiting`, plus the margins' cells; (table, k or None when exact)."""
    rows = (await session.execute(sa.select(store.funds).order_by(store.funds.c.source,
                                                                  store.funds.c.district))).mappings().all()
    waiting = await pg.waiting_counts(session, [(r["source"], r["district"]) for r in rows]) if rows else {}
    cells = [dict(r) | {"available_fen": r["balance_fen"] - r["reserved_fen"],
                        "waiting": waiting.get((r["source"], r["district"]), 0)} for r in rows]
    margins = waiting_margins(cells)
    if fund_use.reads_exact(reader.role if reader else None):
        return [c | {"suppressed": False} for c in cells + margins], None
    k = min_cell_on(nantong_today())
    return suppress(cells + margins, dims=("source", "district"), count="waiting", k=k), k


def waiting_margins(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Source, district and grand totals of `waiting` as cells (`*`), so the helper protects them."""
    out: dict[tuple[str, str], int] = {}
    for c in cells:
        for key in ((c["source"], "*"), ("*", c["district"]), ("*", "*")):
            out[key] = out.get(key, 0) + c["waiting"]
    return [{"source": s, "district": d, "waiting": n} for (s, d), n in sorted(out.items())]


@router.get("/funds", responses=problem_responses(401))
async def list_funds(session: SessionDep, reader: OptionalPrincipalDep) -> list[dict[str, Any]]:
    """Balance, reserved, available and the waiting queue per funding source and district (fen).
    Without an hr, finance, bureau or auditor token: balance, reserved and available are null
    (`money_suppressed`: a day's difference would be one payment), and `waiting` below the
    small-cell threshold, and the cells that would give it away, is null with `suppressed` true
    (GET /v1/funds/totals publishes the total)."""
    table, k = await _waiting_table(session, reader)
    return [fund_use.funds_row(c, exact=k is None) for c in table if c["source"] != "*" and c["district"] != "*"]


@router.get("/funds/totals", responses=problem_responses(401))
async def funds_totals(session: SessionDep, reader: OptionalPrincipalDep) -> dict[str, Any]:
    """The waiting queue's total over all funds, suppressed the same way as the rows
    (`min_cell` null when exact)."""
    table, k = await _waiting_table(session, reader)
    total = next((c for c in table if c["source"] == "*" and c["district"] == "*"),
                 {"waiting": 0, "suppressed": False})
    return {"min_cell": k, "waiting": total["waiting"], "suppressed": total["suppressed"]}


# ---- disbursements ---------------------------------------------------------------------------

def _public(row: Any) -> dict[str, Any]:
    return dict(row) | {"cash_fen": row["amount_fen"] - row["offset_fen"],
                        "amount_yuan": fen_to_yuan(row["amount_fen"])}


@router.get("/decisions/{decision_id}/disbursement")
async def disbursement_for_decision(decision_id: uuid.UUID, session: SessionDep,
                                    _: Any = STAFF_READ) -> dict[str, Any]:
    d = store.disbursements
    row = (await session.execute(sa.select(d).where(d.c.decision_id == decision_id)
                                 .order_by(d.c.part.desc()))).mappings().first()
    if row is None:
        raise Problem(404, "No disbursement", f"no disbursement for decision {decision_id}",
                      field="decision_id")
    return _public(row)


@router.get("/disbursements")
async def list_disbursements(session: SessionDep, _: Annotated[Any, STAFF_READ], status: State | None = None,
                             batch_id: uuid.UUID | None = None,
                             limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """Drafts in FIFO order; `status=waiting` shows the visible queue for money."""
    d = store.disbursements
    q = sa.select(d).order_by(d.c.queued_seq.nulls_last(), d.c.created_at, d.c.disbursement_id)
    if status is not None:
        q = q.where(d.c.status == status.value)
    if batch_id is not None:
        q = q.where(d.c.batch_id == batch_id)
    return [_public(r) for r in (await session.execute(q.limit(limit))).mappings()]


@router.get("/holds")
async def list_holds(session: SessionDep, _: Annotated[Any, STAFF_READ], reason: HoldReason | None = None,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """Payable decisions not drafted, and why: no payee named, no payment account on record, a 十三.5
    plan will settle them, an earlier payment still in flight, an earlier decision not yet received."""
    h = store.holds
    q = sa.select(h).where(h.c.resolved_at.is_(None)).order_by(h.c.since, h.c.decision_id).limit(limit)
    if reason is not None:
        q = q.where(h.c.reason == reason.value)
    return [dict(r) for r in (await session.execute(q)).mappings()]


@router.get("/decisions/{decision_id}/payment")
async def payment_of_decision(decision_id: uuid.UUID, session: SessionDep, _: Any = STAFF_READ) -> dict[str, Any]:
    """Where a decision's money stands: drafted (its disbursements), held (the reason), superseded."""
    r = store.received_decisions
    got = (await session.execute(sa.select(r).where(r.c.decision_id == decision_id))).mappings().first()
    if got is None:
        raise Problem(404, "Unknown decision", f"payments has not received decision {decision_id}",
                      field="decision_id")
    d, h, s = store.disbursements, store.holds, store.superseded_decisions
    hold = (await session.execute(sa.select(h.c.reason, h.c.since).where(
        h.c.decision_id == decision_id, h.c.resolved_at.is_(None)))).mappings().first()
    by = await session.scalar(sa.select(s.c.superseded_by).where(s.c.decision_id == decision_id))
    money = (await session.execute(sa.select(d).where(d.c.decision_id == decision_id))).mappings().all()
    return {"decision_id": str(decision_id), "trigger_id": str(got["trigger_id"]), "outcome": got["outcome"],
            "amount_fen": got["amount_fen"], "payee_kind": got["payee_kind"], "payee_ref": got["payee_ref"],
            "superseded_by": str(by) if by else None, "hold": dict(hold) if hold else None,
            "disbursements": [_public(m) for m in money]}


@router.get("/ledger/verification", summary="Recompute every balance from the postings (auditors only)")
async def ledger_verification(session: SessionDep, _: Any = require_roles("auditor")) -> dict[str, Any]:
    """Balances, reservations, status histories and what each trigger and plan was paid, against the
    postings; `drift` lists every disagreement (empty when the ledger holds)."""
    return (await verify.verify_ledger(session)).as_dict()


# ---- 公开资金使用情况 --------------------------------------------------------------------------

@router.get("/fund-use", responses=problem_responses(401))
async def fund_use_summary(session: SessionDep, reader: OptionalPrincipalDep,
                           year: Annotated[int | None, Query(ge=1900, le=2100)] = None) -> dict[str, Any]:
    """Fund-use summary (公开资金使用情况): no payee, no person. Everyone reads the money allocated by
    source, district and month. What was spent, by source, district, clause and month, is for hr,
    finance, bureau and auditor tokens (exact); for anyone else it is null: these figures are live,
    so two days' answers would differ by one payment, and a clause names disability or low-income
    status. The public reads spending from reporting's GET /v1/funds (settled month ends, small
    cells suppressed; docs/small-cells.md). A token that is sent must be valid (401)."""
    exact = fund_use.reads_exact(reader.role if reader else None)
    spent = (await session.execute(store.FUND_USE_SQL, {"year": year})).mappings().all() if exact else []
    allocated = (await session.execute(store.ALLOCATED_SQL, {"year": year})).mappings().all()
    return fund_use.fund_use_answer(year, spent, allocated, exact=exact, k=min_cell_on(nantong_today()))
