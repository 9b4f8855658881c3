"""Project-based training plans (十三.5) over REST: the bureau records them; they are public
(training projects are a public catalog, 十七)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from services.registry import plans
from services.registry.api import AUTH_ERRORS
from services.registry.api_training import CreditCodeQuery
from services.registry.schemas import OccupationCode
from shared.app import RuntimeDep, SessionDep
from shared.auth import require_roles
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["training"])


class TrainingPlanCreate(BaseModel):
    """The plan the bureau approved for a class. The institution, district and dates are the class's."""

    model_config = ConfigDict(extra="forbid")
    plan_code: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="the bureau's plan number")
    class_id: uuid.UUID
    clause: str = Field(pattern=r"^[一二三四五六七八九十]{1,3}\.[0-9]{1,2}[a-z]?$", examples=["四.7"],
                        description="the clause whose subsidy the plan pays (an advance needs 十三.5 to allow it)")
    planned_headcount: int = Field(ge=1, le=100_000)
    standard_per_head_fen: int = Field(ge=1, le=10**8, description="subsidy per trainee and year, fen")
    years: int = Field(ge=1, le=5)
    occupation_code: OccupationCode | None = None
    occupation_edition: Literal["2015", "2022"] | None = None
    level: int | None = Field(default=None, ge=1, le=5)


@router.post("/training-plans", status_code=201,
             responses={**AUTH_ERRORS, 200: {"description": "Already recorded with the same content"},
                        409: {"description": "The class already has another plan"}})
async def record_training_plan(body: TrainingPlanCreate, response: Response, session: SessionDep,
                               runtime: RuntimeDep, principal: Any = require_roles("bureau")) -> dict[str, Any]:
    """Record or change a plan (bureau); emits `registry.training_plan.recorded`."""
    read, changed = await plans.record_plan(session, runtime, body.model_dump(), principal.client_id)
    await session.commit()
    runtime.wake_relay()
    response.status_code = 201 if changed else 200
    return read




@router.get("/training-plans", summary="Public catalog of project-based training plans (十七)")
async def list_training_plans(session: SessionDep, institution_id: CreditCodeQuery = None) -> list[dict[str, Any]]:
    return await plans.list_plans(session, institution_id)


@router.get("/training-plans/{plan_id}", responses={404: {"description": "Unknown plan"}})
async def get_training_plan(plan_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    plan = await plans.get_plan(session, plan_id)
    if plan is None:
        raise Problem(404, "Unknown plan", f"no plan {plan_id}", field="plan_id")
    return plan
