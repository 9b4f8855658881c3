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


# Chinese spreadsheet tools save CSV in GBK (GB18030, its superset) unless told otherwise.
CSV_CHARSETS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030",
                "gb18030": "gb18030"}


def decode_csv(raw: bytes, content_type: str) -> str:
    """The declared charset if any (UTF-8, GBK or GB18030), else UTF-8 (with or without BOM), else
    GB18030; anything else is a 4xx naming the encoding."""
    declared = next((p.split("=", 1)[1].strip().strip('"').lower() for p in content_type.split(";")[1:]
                     if p.strip().lower().startswith("charset=")), None)
    if declared is not None and declared not in CSV_CHARSETS:
        raise Problem(415, "Unsupported charset", f"charset {declared} is not one of UTF-8, GBK, GB18030",
                      field="content-type")
    for codec in [CSV_CHARSETS[declared]] if declared else ["utf-8-sig", "gb18030"]:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    raise Problem(422, "Undecodable file", f"the file is not valid {declared or 'UTF-8 or GB18030/GBK'} text",
                  field="encoding")


async def _csv(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("text/csv"):
        raise Problem(415, "Send text/csv", "upload the file as text/csv", field="content-type")
    return decode_csv(await request.body(), content_type)


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
