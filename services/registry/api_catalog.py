"""The Catalog: public reads; bureau uploads of new versions (CSV as the bureau edits it, in UTF-8,
UTF-8 with BOM, GBK or GB18030, or JSON), each published only once a second bureau officer approves."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import catalog_load, handlers, institution_catalog
from services.registry.api_training import CreditCodeQuery
from services.registry.catalog import (
    CatalogError,
    parse_catalog,
    parse_high_skill_shortage_list,
    parse_shortage_list,
)
from services.registry.schemas import CatalogVersionCreate
from services.registry.store import shortage_lists
from shared import approvals
from shared.app import Runtime, RuntimeDep, SessionDep
from shared.auth import AuthPrincipal, require_roles
from shared.problems import Problem, problem_responses

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


# ---- uploads: a bureau officer submits, a second one approves (shared/approvals.py) ---------

Publisher = Callable[[AsyncSession, Runtime, bytes, str], Awaitable[dict[str, object]]]


async def _catalog_version(session: AsyncSession, runtime: Runtime, body: bytes, content_type: str
                           ) -> dict[str, object]:
    if content_type.startswith("text/csv"):
        try:
            version = parse_catalog(decode_csv(body, content_type))
        except CatalogError as exc:
            raise _refused(exc) from None
        return {"catalog_version": version.version,
                "rows": await catalog_load.publish_catalog_version(session, runtime, version)}
    try:
        parsed = CatalogVersionCreate.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    count = await handlers.publish_catalog(session, runtime, parsed.catalog_version,
                                           [row.model_dump() for row in parsed.standards])
    return {"catalog_version": parsed.catalog_version, "rows": count}


def _csv_only(content_type: str) -> None:
    if not content_type.startswith("text/csv"):
        raise Problem(415, "Send text/csv", "upload the file as text/csv", field="content-type")


async def _shortage_list(session: AsyncSession, runtime: Runtime, body: bytes, content_type: str
                         ) -> dict[str, object]:
    _csv_only(content_type)
    try:
        sl = parse_shortage_list(decode_csv(body, content_type))
    except CatalogError as exc:
        raise _refused(exc) from None
    await catalog_load.publish_shortage_list(session, runtime, sl)
    return {"list_version": sl.version, "year": sl.year, "occupations": len(sl.names)}


async def _provincial_list(session: AsyncSession, runtime: Runtime, body: bytes, content_type: str
                           ) -> dict[str, object]:
    _csv_only(content_type)
    try:
        hl = parse_high_skill_shortage_list(decode_csv(body, content_type))
    except CatalogError as exc:
        raise _refused(exc) from None
    await catalog_load.publish_provincial_list(session, runtime, hl)
    return {"list_version": hl.version, "entries": len(hl.entries)}


async def _institution_listing(session: AsyncSession, runtime: Runtime, body: bytes, content_type: str
                               ) -> dict[str, object]:
    if not content_type.startswith("application/json"):
        raise Problem(415, "Send application/json", "upload the institution catalogue as JSON", field="content-type")
    try:
        upload = institution_catalog.InstitutionCatalogUpload.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return {"listing_version": upload.listing_version,
            "entries": await institution_catalog.publish(session, runtime, upload)}


PUBLISHERS: dict[str, Publisher] = {"catalog_version": _catalog_version, "shortage_list": _shortage_list,
                                    "provincial_list": _provincial_list, "institution_listing": _institution_listing}


async def _submit(kind: str, request: Request, session: AsyncSession, runtime: Runtime,
                  principal: AuthPrincipal) -> JSONResponse:
    """Check the upload as its publication would (4xx as before), keep it for a second officer."""
    body, content_type = await request.body(), request.headers.get("content-type", "")
    summary = await approvals.dry_run(session, lambda: PUBLISHERS[kind](session, runtime, body, content_type))
    out = await approvals.submit(session, kind=kind, content_type=content_type, body=body,
                                 by=principal.client_id, summary=summary)
    await session.commit()
    return JSONResponse(out, status_code=202)


SUBMITTED = {202: {"description": "Accepted: waits for a second bureau officer's approval"},
             **problem_responses(409, 415, 422)}


@router.post("/versions", status_code=202, openapi_extra=CSV_BODY, responses=SUBMITTED,
             summary="Submit a new Catalog version (bureau); text/csv as in catalog_data/, or JSON")
async def publish_catalog_version(request: Request, session: SessionDep, runtime: RuntimeDep,
                                  principal: BureauDep) -> JSONResponse:
    return await _submit("catalog_version", request, session, runtime, principal)


@router.post("/shortage-lists", status_code=202, openapi_extra=CSV_BODY, responses=SUBMITTED,
             summary="Submit a year's market-shortage list (bureau, text/csv)")
async def publish_shortage_list(request: Request, session: SessionDep, runtime: RuntimeDep,
                                principal: BureauDep) -> JSONResponse:
    return await _submit("shortage_list", request, session, runtime, principal)


@router.post("/provincial-lists", status_code=202, openapi_extra=CSV_BODY, responses=SUBMITTED,
             summary="Submit the provincial high-skill shortage list (bureau, text/csv)")
async def publish_provincial_list(request: Request, session: SessionDep, runtime: RuntimeDep,
                                  principal: BureauDep) -> JSONResponse:
    return await _submit("provincial_list", request, session, runtime, principal)


@router.post("/institutions", status_code=202, responses=SUBMITTED,
             summary="Submit a version of the catalogue of training and evaluation institutions (bureau, JSON)")
async def publish_institution_listing(request: Request, session: SessionDep, runtime: RuntimeDep,
                                      principal: BureauDep) -> JSONResponse:
    return await _submit("institution_listing", request, session, runtime, principal)


@router.get("/institutions", summary="Public: the catalogue of training and evaluation institutions (九, 十七)")
async def list_institutions(session: SessionDep, institution_code: CreditCodeQuery = None,
                            on: date | None = None) -> list[dict[str, Any]]:
    return await institution_catalog.entries(session, institution_code, on)


@router.get("/approvals", summary="Catalog uploads waiting for a second bureau officer")
async def pending_uploads(session: SessionDep, _: BureauDep) -> list[dict[str, Any]]:
    return await approvals.listing(session, tuple(PUBLISHERS))


@router.post("/approvals/{approval_id}", status_code=201, responses=problem_responses(404, 409),
             summary="Approve and publish an upload (a bureau officer other than its submitter)")
async def approve_upload(approval_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep,
                         principal: BureauDep) -> dict[str, Any]:
    try:
        pending = await approvals.claim(session, approval_id, kinds=tuple(PUBLISHERS), by=principal.client_id)
    except approvals.ApprovalError as exc:
        raise Problem(exc.status, "Cannot approve", exc.reason, field="approval_id") from None
    out = await PUBLISHERS[pending.kind](session, runtime, pending.body, pending.content_type)
    await approvals.decide(session, approval_id, by=principal.client_id, status="approved", at=dt.datetime.now(dt.UTC))
    await session.commit()
    runtime.wake_relay()
    return out | {"approval_id": str(approval_id), "submitted_by": pending.submitted_by,
                  "approved_by": principal.client_id}


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
