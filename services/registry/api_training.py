"""Institutions, training classes (training projects) and completions. Public catalog reads (十七);
writes by the bureau or district (institutions) and by the institution itself (classes, completions)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response

from services.registry import people, training
from services.registry.access import ensure_write
from services.registry.api import AUTH_ERRORS
from services.registry.domain import Action, Resource, ResourceKind
from services.registry.schemas import ClassCreate, CompletionCreate, InstitutionCreate
from services.registry.store import institutions
from shared.app import RuntimeDep, SessionDep
from shared.auth import PrincipalDep
from shared.problems import Problem

# Public lists come a page at a time: an unbounded answer is a cheap way to load the service.
PageLimit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
PageOffset = Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")]
router = APIRouter(prefix="/v1", tags=["training"])
UNCHANGED = {"description": "Already recorded with the same content: nothing changed"}
# Query filters are shaped like the codes they match: a NUL byte reached PostgreSQL and answered 500.
CreditCodeQuery = Annotated[str | None, Query(pattern=r"^[0-9A-Z]{18}$")]
DistrictQuery = Annotated[str | None, Query(pattern=r"^[0-9A-Z-]{1,16}$")]


@router.post("/institutions", status_code=201, responses={**AUTH_ERRORS, 200: UNCHANGED})
async def record_institution(body: InstitutionCreate, response: Response, session: SessionDep,
                             runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """List or change an institution (bureau; district staff in their district). A GB 32100 check
    mismatch is recorded with a warning, not refused."""
    ensure_write(principal, Action.CREATE, Resource(ResourceKind.INSTITUTION, district=body.district),
                 field="district")
    # The upsert replaces a listed institution: its current district must be the caller's too, or
    # district staff could move another district's institution into their own (found by fuzzing).
    listed_in = await session.scalar(sa.select(institutions.c.district)
                                     .where(institutions.c.credit_code == body.credit_code))
    if listed_in is not None:
        ensure_write(principal, Action.UPDATE, Resource(ResourceKind.INSTITUTION, district=listed_in),
                     field="credit_code")
    changed, warning = await training.record_institution(session, runtime, body.model_dump())
    await session.commit()
    runtime.wake_relay()
    response.status_code = 201 if changed else 200
    return {"credit_code": body.credit_code, "warnings": [warning] if warning else []}


@router.get("/institutions", summary="Public catalog of institutions (十七), optionally listed on a date")
async def list_institutions(session: SessionDep, on: date | None = None, district: DistrictQuery = None,
                            limit: PageLimit = 500, offset: PageOffset = 0) -> list[dict[str, Any]]:
    return await training.list_institutions(session, on, district, limit=limit, offset=offset)


@router.post("/classes", status_code=201, responses={**AUTH_ERRORS, 200: UNCHANGED})
async def record_class(body: ClassCreate, response: Response, session: SessionDep, runtime: RuntimeDep,
                       principal: PrincipalDep) -> dict[str, Any]:
    """Open or change a training class (institutions: only their own)."""
    ensure_write(principal, Action.CREATE,
                 Resource(ResourceKind.TRAINING_CLASS, institution_id=body.institution_id),
                 field="institution_id")
    class_id, changed = await training.record_class(session, runtime, body.model_dump())
    await session.commit()
    runtime.wake_relay()
    response.status_code = 201 if changed else 200
    return {"class_id": class_id}


@router.get("/classes", summary="Public catalog of training projects (十七)")
async def list_classes(session: SessionDep, institution_id: CreditCodeQuery = None, on: date | None = None,
                       limit: PageLimit = 500, offset: PageOffset = 0) -> list[dict[str, Any]]:
    return await training.list_classes(session, institution_id, on, limit=limit, offset=offset)


@router.post("/completions", status_code=201, responses={**AUTH_ERRORS, 200: UNCHANGED})
async def record_completion(body: CompletionCreate, response: Response, session: SessionDep,
                            runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """Class completed, apprenticeship year completed (四.7), 以工代训 months (五.3), order class (四.1)."""
    cls = await training.get_class(session, body.class_id)
    if cls is None:
        raise Problem(422, "Unknown class", f"no class {body.class_id}", field="class_id")
    ensure_write(principal, Action.CREATE,
                 Resource(ResourceKind.COMPLETION, institution_id=cls["institution_id"]), field="class_id")
    keys = await people.register_people(session, runtime, [people.NewPerson(body.resident_id, cls["district"])])
    completion_id, created = await training.record_completion(
        session, runtime, keys[body.resident_id], cls, body.model_dump())
    await session.commit()
    runtime.wake_relay()
    response.status_code = 201 if created else 200
    return {"completion_id": completion_id, "person_key": keys[body.resident_id]}


