"""Public notice (公示) API: the public list of approvals in notice, objections, and the bureau's
end-of-notice step. The list and objections need no token (anyone may read and object); they show
only the masked fields of notices.shown. An objection's contact is stored for the reviewer, never
shown or logged."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.eligibility import notices
from shared.app import RuntimeDep, SessionDep
from shared.auth import AuthPrincipal, require_roles
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["public notice"])
Bureau = Annotated[AuthPrincipal, require_roles("bureau")]
ReviewReader = Annotated[AuthPrincipal, require_roles("bureau", "auditor")]
# A mainland mobile number, a landline with its area code, or an e-mail address.
CONTACT = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,})$")


class ObjectionCreate(BaseModel):
    """An objection to a notice: how to reach the objector, and why."""

    model_config = ConfigDict(extra="forbid")
    contact: str = Field(min_length=5, max_length=100, description="mobile, landline (0513-85123456) or e-mail")
    reason: str = Field(min_length=10, max_length=2000, description="what is wrong with the published approval")

    @field_validator("contact")
    @classmethod
    def _contact(cls, v: str) -> str:
        value = v.strip()
        if not CONTACT.fullmatch(value):
            raise ValueError("a mobile number, a landline with its area code, or an e-mail address")
        return value

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if len(v.strip()) < 10:
            raise ValueError("say in at least 10 characters what is wrong")
        return v.strip()


def _problem(exc: notices.NoticeError) -> Problem:
    return Problem(exc.status, exc.title, exc.detail, field=exc.field)


@router.get("/public/notices", summary="Public: approvals in their notice period (masked)")
async def list_notices(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[dict[str, Any]]:
    return await notices.public_list(session, notices.nantong_today(), limit, offset)


@router.get("/public/notices/{decision_id}", summary="Public: one notice (masked)")
async def get_notice(decision_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    found = await notices.public_one(session, decision_id)
    if found is None:
        raise Problem(404, "No such notice", f"no notice for decision {decision_id}", field="decision_id")
    return found


@router.post("/public/notices/{decision_id}/objections", status_code=201,
             summary="Public: object to a notice during its period; the decision goes to review")
async def object_to(decision_id: uuid.UUID, body: ObjectionCreate, session: SessionDep) -> dict[str, Any]:
    try:
        out = await notices.object_to(session, decision_id, body.contact, body.reason, notices.nantong_today())
    except notices.NoticeError as exc:
        raise _problem(exc) from None
    await session.commit()
    return out


@router.get("/objections", summary="Objections to notices with their review's status (reviewers, auditors)")
async def list_objections(session: SessionDep, principal: ReviewReader,
                          status: Annotated[str | None, Query(pattern="^(open|approved|rejected|superseded)$")] = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """`status=open`: objections a reviewer has still to answer. The objector's contact is shown to
    the bureau's reviewers only (they answer it), never to auditors."""
    return await notices.objections(session, status, limit, with_contact=principal.role == "bureau")


@router.post("/pending/expire-due", summary="Decide the pending certificates whose wait is over (the loop does "
             "it each minute)")
async def expire_due(session: SessionDep, runtime: RuntimeDep, _: Bureau) -> dict[str, int]:
    from services.eligibility.handlers import expire_pending

    persons = await expire_pending(session, runtime, notices.nantong_today())
    await session.commit()
    runtime.wake_relay()
    return {"persons": persons}


@router.post("/notices/end-due", summary="End the notices whose period is over (the loop does it each minute)")
async def end_due(session: SessionDep, runtime: RuntimeDep, _: Bureau) -> dict[str, int]:
    made = await notices.end_due(session, runtime, notices.nantong_today())
    await session.commit()
    runtime.wake_relay()
    return {"payable": made}
