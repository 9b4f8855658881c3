"""Payments REST API, money out: batches (hr approves, finance releases), the treasury order and
payment file, statement reconciliation, retries."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from services.payments import paying, store
from services.payments import postings as pg
from services.payments.api import PRINTABLE, STAFF_READ, ActorDep, IdemKey, Outcome, once, require
from services.payments.disbursements import Role
from services.payments.ledger import FundingSource
from services.payments.treasury import StatementError, TreasuryClient, parse_statement, payment_file
from shared.app import Runtime, RuntimeDep, SessionDep
from shared.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["payments"])
log = logging.getLogger("skillsub.payments")


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: FundingSource | None = None
    district: str | None = Field(default=None, min_length=2, max_length=16, pattern=PRINTABLE)
    limit: int = Field(default=10_000, ge=1, le=100_000)


@router.post("/batches", status_code=201, responses=problem_responses(409))
async def create_batch(body: BatchCreate, request: Request, session: SessionDep, actor: ActorDep,
                       idempotency_key: IdemKey = None) -> Any:
    async def run() -> Outcome:
        return 201, await paying.create_batch(session, actor, source=body.source and body.source.value,
                                              district=body.district, limit=body.limit)

    return (await once(request, session, idempotency_key, run))[0]


@router.get("/batches/{batch_id}")
async def get_batch(batch_id: uuid.UUID, session: SessionDep, _: Any = STAFF_READ) -> dict[str, Any]:
    query = sa.select(store.batches).where(store.batches.c.batch_id == batch_id)
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise Problem(404, "Unknown batch", f"no batch {batch_id}", field="batch_id")
    d = store.disbursements
    counts = (await session.execute(sa.select(d.c.status, sa.func.count()).where(d.c.batch_id == batch_id)
                                    .group_by(d.c.status))).all()
    return dict(row) | {"by_status": {s: n for s, n in counts}}


@router.post("/batches/{batch_id}/approve", responses=problem_responses(409))
async def approve_batch(batch_id: uuid.UUID, request: Request, session: SessionDep, runtime: RuntimeDep,
                        actor: ActorDep, idempotency_key: IdemKey = None) -> Any:
    async def run() -> Outcome:
        events = await paying.approve_batch(session, batch_id, actor)
        await pg.emit(runtime, session, events)
        return 200, {"batch_id": str(batch_id), "status": "approved", "approved": len(events)}

    response, _ = await once(request, session, idempotency_key, run)
    runtime.wake_relay()
    return response


@router.post("/batches/{batch_id}/release", responses=problem_responses(409))
async def release_batch(batch_id: uuid.UUID, request: Request, session: SessionDep, runtime: RuntimeDep,
                        actor: ActorDep, idempotency_key: IdemKey = None) -> Any:
    """Finance releases; the order then goes to the treasury (after the commit, with its own key)."""
    async def run() -> Outcome:
        released = await paying.release_batch(session, runtime, batch_id, actor)
        await pg.emit(runtime, session, released.events)
        return 200, {"batch_id": str(batch_id), "status": "released", "payments": released.payments,
                     "cash_fen": released.cash_fen}

    response, _ = await once(request, session, idempotency_key, run)
    runtime.wake_relay()
    await submit_batch(runtime, batch_id)
    return response


@router.post("/batches/{batch_id}/submit", responses=problem_responses(409))
async def resubmit_batch(batch_id: uuid.UUID, runtime: RuntimeDep, actor: ActorDep) -> dict[str, Any]:
    """Send a released batch's order again (same Idempotency-Key: the treasury pays it once)."""
    require(actor, Role.FINANCE)
    return {"batch_id": str(batch_id), "submitted": await submit_batch(runtime, batch_id)}


async def submit_batch(runtime: Runtime, batch_id: uuid.UUID) -> bool:
    """Send the order if a treasury is configured; a failure leaves it for the next submit."""
    client: TreasuryClient | None = runtime.state.get("treasury")
    assert runtime.maker is not None
    async with runtime.maker() as session:
        query = sa.select(store.batches).where(store.batches.c.batch_id == batch_id)
        row = (await session.execute(query)).mappings().first()
        if row is None or row["status"] != "released":
            raise Problem(409, "Batch not released", f"batch {batch_id} is not released", field="batch_id")
        if client is None:
            return False
        lines = await paying.order_lines(session, runtime.state["pii_key"], batch_id)
    try:
        await client.submit(str(batch_id), lines)
    except httpx.HTTPError as exc:
        log.warning("treasury order for batch %s failed (%s); resubmit later", batch_id, type(exc).__name__)
        return False
    async with runtime.maker() as session:
        await session.execute(sa.update(store.batches).where(store.batches.c.batch_id == batch_id)
                              .values(submitted_at=sa.func.coalesce(store.batches.c.submitted_at, sa.func.now())))
        await session.commit()
    return True


async def resume_submissions(runtime: Runtime) -> None:
    """After a crash between release and the treasury call: send what was released but not sent."""
    assert runtime.maker is not None
    async with runtime.maker() as session:
        pending = (await session.execute(sa.select(store.batches.c.batch_id).where(
            store.batches.c.status == "released", store.batches.c.submitted_at.is_(None)))).scalars().all()
    for batch_id in pending:
        await submit_batch(runtime, batch_id)


CSV_FILE = {200: {"description": "The payment file", "content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.get("/batches/{batch_id}/payment-file", response_class=PlainTextResponse,
            responses=CSV_FILE | problem_responses(409))
async def batch_payment_file(batch_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep,
                             actor: ActorDep) -> PlainTextResponse:
    """The released batch as a CSV payment file, for a treasury without an API: one column per field,
    each payment to the account in force at release."""
    require(actor, Role.FINANCE)
    status = await session.scalar(sa.select(store.batches.c.status).where(store.batches.c.batch_id == batch_id))
    if status != "released":
        raise Problem(409 if status else 404, "No payment file", f"batch {batch_id} is {status or 'unknown'}",
                      field="batch_id")
    lines = await paying.order_lines(session, runtime.state["pii_key"], batch_id)
    return PlainTextResponse(payment_file(lines), media_type="text/csv")


class StatementImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    csv: str = Field(min_length=1, max_length=50_000_000, description="payment_ref,amount_fen,status")


@router.post("/statements")
async def import_statement(body: StatementImport, request: Request, session: SessionDep, runtime: RuntimeDep,
                           actor: ActorDep, idempotency_key: IdemKey = None) -> Any:
    """Reconcile a treasury statement: paid, failed (money released), and what did not match."""
    require(actor, Role.FINANCE)
    try:
        lines = parse_statement(body.csv)
    except StatementError as exc:
        raise Problem(422, "Malformed statement", str(exc), field="csv", extra={"line": exc.line}) from exc

    async def run() -> Outcome:
        result, events = await paying.reconcile(session, runtime, body.reference, lines)
        await pg.emit(runtime, session, events)
        return 200, result

    response, _ = await once(request, session, idempotency_key, run)
    runtime.wake_relay()
    return response


@router.post("/disbursements/{disbursement_id}/retry", responses=problem_responses(409))
async def retry_disbursement(disbursement_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep,
                             actor: ActorDep) -> dict[str, Any]:
    state, events = await paying.retry(session, disbursement_id, actor)
    await pg.emit(runtime, session, events)
    await session.commit()
    runtime.wake_relay()
    return {"disbursement_id": str(disbursement_id), "status": state.value}
