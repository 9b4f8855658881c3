"""Payments REST API: the actor, Idempotency-Key, allocations, funds, disbursements, fund use.

Batches, statements, advances and recoveries are in api_batches.py. Every POST accepts an
`Idempotency-Key`: the key is claimed in the same transaction as the effect, so 50 identical
concurrent requests give one effect and 50 identical answers; the same key with another body is
refused (422, field Idempotency-Key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import handlers, store
from services.payments import postings as pg
from services.payments.disbursements import Actor, Role, State
from services.payments.ledger import Fund, FundingSource
from shared.app import RuntimeDep, SessionDep
from shared.auth import PrincipalDep, principal_of, require_roles
from shared.disclosure import min_cell_on, suppress
from shared.money import fen_to_yuan
from shared.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["payments"])
SHANGHAI = ZoneInfo("Asia/Shanghai")
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
    if key:
        await session.execute(sa.update(store.idempotency).where(store.idempotency.c.key == key)
                              .values(status_code=status, response=body))
    await session.commit()
    return JSONResponse(body, status_code=status), True


# ---- allocations and funds -------------------------------------------------------------------

class AllocationCreate(BaseModel):
    """Finance credits money into the special account for one source and district."""

    model_config = ConfigDict(extra="forbid")
    reference: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                           description="the finance bureau's document number")
    source: FundingSource
    district: str = Field(min_length=2, max_length=16, pattern=PRINTABLE)
    amount_fen: int = Field(gt=0, le=10**13)


@router.post("/allocations", status_code=201, responses=problem_responses(409))
async def allocate(body: AllocationCreate, request: Request, session: SessionDep, runtime: RuntimeDep,
                   actor: ActorDep, idempotency_key: IdemKey = None) -> JSONResponse:
    require(actor, Role.FINANCE)

    async def run() -> Outcome:
        t = store.transactions
        if await session.scalar(sa.select(t.c.txn_id).where(t.c.kind == "allocation",
                                                            t.c.ref == body.reference)):
            raise Problem(409, "Allocation already recorded", f"reference {body.reference} exists",
                          field="reference")
        admitted = await handlers.allocate(session, body.reference, Fund(body.source, body.district),
                                           body.amount_fen)
        await pg.emit(runtime, session, pg.status_events(admitted, State.RESERVED))
        return 201, {"reference": body.reference,
                     "admitted_drafts": [str(a["disbursement_id"]) for a in admitted]}

    response, _ = await once(request, session, idempotency_key, run)
    runtime.wake_relay()
    return response


@router.get("/funds")
async def list_funds(session: SessionDep) -> list[dict[str, Any]]:
    """Balance, reserved, available and the waiting queue per funding source and district (fen)."""
    rows = (await session.execute(sa.select(store.funds).order_by(store.funds.c.source,
                                                                  store.funds.c.district))).mappings().all()
    waiting = await pg.waiting_counts(session, [(r["source"], r["district"]) for r in rows]) if rows else {}
    return [dict(r) | {"available_fen": r["balance_fen"] - r["reserved_fen"],
                       "waiting": waiting.get((r["source"], r["district"]), 0)} for r in rows]


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


# ---- 公开资金使用情况 --------------------------------------------------------------------------

@router.get("/fund-use")
async def fund_use(session: SessionDep, year: Annotated[int | None, Query(ge=1900, le=2100)] = None
                   ) -> dict[str, Any]:
    """Public fund-use summary by source, district, clause and month: no payee, no person. Cells of
    fewer payments than the small-cell threshold, and their complements, are suppressed
    (shared/disclosure.py): a clause names disability or low-income status."""
    spent = (await session.execute(store.FUND_USE_SQL, {"year": year})).mappings().all()
    allocated = (await session.execute(store.ALLOCATED_SQL, {"year": year})).mappings().all()
    k = min_cell_on(dt.datetime.now(SHANGHAI).date())
    cells = suppress([dict(r) | {"spent_yuan": fen_to_yuan(r["spent_fen"])} for r in spent],
                     dims=("source", "district", "clause", "month"), count="payments",
                     values=("spent_fen", "spent_yuan"), k=k)
    return {"year": year, "min_cell": k, "spent": cells,
            "allocated": [dict(r) | {"allocated_yuan": fen_to_yuan(r["allocated_fen"])} for r in allocated]}
