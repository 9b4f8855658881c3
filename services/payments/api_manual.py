"""Payments REST API, manual items: allocations and recoveries are drafted by one person (hr or
finance), approved by hr (not the drafter) and released by finance (neither of them, 十二.2)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.payments import manual
from services.payments import postings as pg
from services.payments.api import PRINTABLE, STAFF_READ, ActorDep, IdemKey, Outcome, once
from services.payments.claims import PAYEE_KINDS
from services.payments.ledger import Fund, FundingSource, Payee
from shared.app import RuntimeDep, SessionDep
from shared.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["payments"])
Reference = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class AllocationCreate(BaseModel):
    """Finance's credit into the special account for one source and district (drafted, not yet booked)."""

    model_config = ConfigDict(extra="forbid")
    reference: Reference = Field(description="the finance bureau's document number")
    source: FundingSource
    district: str = Field(min_length=2, max_length=16, pattern=PRINTABLE)
    amount_fen: int = Field(gt=0, le=10**13)


class RecoveryCreate(BaseModel):
    """A payee repaid a claw-back (十四) or an unearned advance (十三.5) (drafted, not yet booked)."""

    model_config = ConfigDict(extra="forbid")
    reference: Reference
    source: FundingSource
    district: str = Field(min_length=2, max_length=16, pattern=PRINTABLE)
    payee_kind: Literal["worker", "enterprise", "institution"]
    payee_ref: str = Field(min_length=3, max_length=128, pattern=PRINTABLE)
    amount_fen: int = Field(gt=0, le=10**12)


@router.post("/allocations", status_code=201, responses=problem_responses(409))
async def draft_allocation(body: AllocationCreate, request: Request, session: SessionDep, actor: ActorDep,
                           idempotency_key: IdemKey = None) -> Any:
    async def run() -> Outcome:
        return 201, await manual.draft(session, actor, manual.ManualKind.ALLOCATION, body.reference,
                                       Fund(body.source, body.district), body.amount_fen)

    return (await once(request, session, idempotency_key, run))[0]


@router.post("/recoveries", status_code=201, responses=problem_responses(409))
async def draft_recovery(body: RecoveryCreate, request: Request, session: SessionDep, actor: ActorDep,
                         idempotency_key: IdemKey = None) -> Any:
    async def run() -> Outcome:
        payee = Payee(PAYEE_KINDS[body.payee_kind], body.payee_ref)
        return 201, await manual.draft(session, actor, manual.ManualKind.RECOVERY, body.reference,
                                       Fund(body.source, body.district), body.amount_fen, payee)

    return (await once(request, session, idempotency_key, run))[0]


@router.post("/manual-items/{item_id}/approve", responses=problem_responses(409))
async def approve_item(item_id: uuid.UUID, request: Request, session: SessionDep, actor: ActorDep,
                       idempotency_key: IdemKey = None) -> Any:
    async def run() -> Outcome:
        return 200, await manual.approve(session, item_id, actor)

    return (await once(request, session, idempotency_key, run))[0]


@router.post("/manual-items/{item_id}/release", responses=problem_responses(409))
async def release_item(item_id: uuid.UUID, request: Request, session: SessionDep, runtime: RuntimeDep,
                       actor: ActorDep, idempotency_key: IdemKey = None) -> Any:
    async def run() -> Outcome:
        read, events = await manual.release(session, item_id, actor)
        await pg.emit(runtime, session, events)
        return 200, read

    response, _ = await once(request, session, idempotency_key, run)
    runtime.wake_relay()
    return response


@router.get("/manual-items")
async def list_items(session: SessionDep, _: Annotated[Any, STAFF_READ],
                     status: Literal["drafted", "approved", "released"] | None = None,
                     limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:
    """Allocations and recoveries with who drafted, approved and released each."""
    return await manual.list_items(session, status, limit)
