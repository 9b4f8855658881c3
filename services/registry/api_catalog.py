"""The Catalog: public reads; bureau uploads of new versions (CSV as the bureau edits it, or JSON)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from services.registry import catalog_load, handlers
from services.registry.catalog import (
    CatalogError,
    parse_catalog,
    parse_high_skill_shortage_list,
    parse_shortage_list,
)
from services.registry.schemas import CatalogVersionCreate
from services.registry.store import shortage_lists
from shared.app import RuntimeDep, SessionDep
from shared.auth import AuthPrincipal, require_roles
from shared.problems import Problem

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])
BureauDep = Annotated[AuthPrincipal, require_roles("bureau")]
CSV_BODY = {"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}}


def _refused(exc: CatalogError) -> Problem:
    errors = [{"field": e.field, "line": e.line, "problem": e.reason} for e in exc.errors]
    return Problem(422, "File refused", str(exc)[:2000], extra={"errors": errors})


async def _csv(request: Request) -> str:
    if not request.headers.get("content-type", "").startswith("text/csv"):
        raise Problem(415, "Send text/csv", "upload the file as text/csv", field="content-type")
    return (await request.body()).decode("utf-8-sig")


@router.post("/versions", status_code=201, openapi_extra=CSV_BODY,
             summary="Publish a new Catalog version (bureau); text/csv as in catalog_data/, or JSON")
async def publish_catalog_version(request: Request, session: SessionDep, runtime: RuntimeDep,
                                  _: BureauDep) -> dict[str, object]:
    if request.headers.get("content-type", "").startswith("text/csv"):
        try:
            version = parse_catalog(await _csv(request))
        except CatalogError as exc:
            raise _refused(exc) from None
        count = await catalog_load.publish_catalog_version(session, runtime, version)
        label = version.version
    else:
        try:
            body = CatalogVersionCreate.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        count = await handlers.publish_catalog(session, runtime, body.catalog_version,
                                               [row.model_dump() for row in body.standards])
        label = body.catalog_version
    await session.commit()
    runtime.wake_relay()
    return {"catalog_version": label, "rows": count}


@router.post("/shortage-lists", status_code=201, openapi_extra=CSV_BODY,
             summary="Publish a year's market-shortage list (bureau, text/csv)")
async def publish_shortage_list(request: Request, session: SessionDep, runtime: RuntimeDep,
                                _: BureauDep) -> dict[str, object]:
    try:
        sl = parse_shortage_list(await _csv(request))
    except CatalogError as exc:
        raise _refused(exc) from None
    await catalog_load.publish_shortage_list(session, runtime, sl)
    await session.commit()
    runtime.wake_relay()
    return {"list_version": sl.version, "year": sl.year, "occupations": len(sl.names)}


@router.post("/provincial-lists", status_code=201, openapi_extra=CSV_BODY,
             summary="Publish the provincial high-skill shortage list (bureau, text/csv)")
async def publish_provincial_list(request: Request, session: SessionDep, runtime: RuntimeDep,
                                  _: BureauDep) -> dict[str, object]:
    try:
        hl = parse_high_skill_shortage_list(await _csv(request))
    except CatalogError as exc:
        raise _refused(exc) from None
    await catalog_load.publish_provincial_list(session, runtime, hl)
    await session.commit()
    runtime.wake_relay()
    return {"list_version": hl.version, "entries": len(hl.entries)}


@router.get("/standards", summary="Public: the Catalog's standards (fen)")
async def list_standards(session: SessionDep,
                         occupation_code: Annotated[str | None, Query(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")] = None,
                         on: date | None = None) -> list[dict[str, object]]:
    return await handlers.list_standards(session, occupation_code, on)


@router.get("/shortage-lists", summary="Public: market-shortage and provincial lists by year")
async def list_shortage_lists(session: SessionDep, year: Annotated[int | None, Query(ge=1900, le=2100)] = None
                              ) -> list[dict[str, Any]]:
    q = sa.select(shortage_lists).order_by(shortage_lists.c.year, shortage_lists.c.list_kind)
    if year is not None:
        q = q.where(shortage_lists.c.year == year)
    return [dict(r) for r in (await session.execute(q)).mappings()]
