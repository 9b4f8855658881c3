"""Payments REST API, 十三.5: the advance is drafted from a registry plan (nothing else to type) and
the settlement from eligibility's decisions for the plan's completers."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from services.payments import plans, store
from services.payments import postings as pg
from services.payments.api import STAFF_READ, ActorDep, IdemKey, Outcome, once, require
from services.payments.disbursements import Role
from services.payments.ledger import DomainError
from shared.app import RuntimeDep, SessionDep
from shared.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["payments"])


class AdvanceCreate(BaseModel):
    """Only the plan: its institution, headcount, standard and the dated ratio fix the advance."""

    model_config = ConfigDict(extra="forbid")
    plan_id: uuid.UUID


@router.post("/advances", status_code=201, responses=problem_responses(404, 409))
async def draft_advance(body: AdvanceCreate, request: Request, session: SessionDep, runtime: RuntimeDep,
                        actor: ActorDep, idempotency_key: IdemKey = None) -> Any:
    """hr drafts the advance; another hr approves its batch, finance releases it."""
    require(actor, Role.HR)

    async def run() -> Outcome:
        try:
            read, events = await plans.draft_advance(session, runtime.state["funding"], body.plan_id, actor)
        except DomainError as exc:
            raise Problem(422, "Advance above the cap", str(exc), field="plan_id") from exc
        await pg.emit(runtime, session, events)
        return 201, read

    response, _ = await once(request, session, idempotency_key, run)
    runtime.wake_relay()
    return response


class SettlementCreate(BaseModel):
    """Nothing to type: the settlement is computed from the decisions."""

    model_config = ConfigDict(extra="forbid")


@router.post("/advances/{plan_id}/settlement", status_code=201, responses=problem_responses(409))
async def settle_plan(plan_id: uuid.UUID, body: SettlementCreate, request: Request, session: SessionDep,
                      runtime: RuntimeDep, actor: ActorDep, idempotency_key: IdemKey = None) -> Any:
    """hr settles a plan whose class has ended: pay the rest, or recover the unearned advance."""
    require(actor, Role.HR)

    async def run() -> Outcome:
        read, events = await plans.settle_plan(session, runtime, plan_id, actor)
        await pg.emit(runtime, session, events)
        return 201, read

    response, _ = await once(request, session, idempotency_key, run)
    runtime.wake_relay()
    return response


@router.get("/plans/{plan_id}")
async def get_plan(plan_id: uuid.UUID, session: SessionDep, _: Any = STAFF_READ) -> dict[str, Any]:
    """The plan as payments knows it, its advance and settlement parts and its settlement figures."""
    row = (await session.execute(sa.select(store.training_plans).where(
        store.training_plans.c.plan_id == plan_id))).mappings().first()
    if row is None:
        raise Problem(404, "Unknown plan", f"no training plan {plan_id}", field="plan_id")
    d, s = store.disbursements, store.plan_settlements
    parts = (await session.execute(sa.select(d.c.part, d.c.amount_fen, d.c.status, d.c.source)
                                   .where(d.c.decision_id == plan_id))).mappings().all()
    settled = (await session.execute(sa.select(s).where(s.c.plan_id == plan_id))).mappings().first()
    return dict(row) | {"parts": [dict(x) for x in parts], "settlement": dict(settled) if settled else None}
