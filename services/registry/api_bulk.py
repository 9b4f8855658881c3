"""Bulk NDJSON imports: one JSON object per line in, one result per line out.

The body is streamed into bounded chunks, each imported in its own transaction (services/registry/
bulk.py); the body may be up to SKILLSUB_MAX_BULK_BYTES (413 past it, shared/limits.py)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import bulk
from services.registry.api import AUTH_ERRORS
from shared.app import Runtime, RuntimeDep, SessionDep
from shared.auth import AuthPrincipal, PrincipalDep, require_roles

router = APIRouter(prefix="/v1/bulk", tags=["bulk"])
BureauDep = Annotated[AuthPrincipal, require_roles("bureau")]
NDJSON = "application/x-ndjson"
Importer = Callable[[AsyncSession, Runtime, AuthPrincipal, AsyncIterable[bulk.Chunk]],
                    Awaitable[list[bulk.LineResult]]]
DOC = {"requestBody": {"content": {NDJSON: {"schema": {"type": "string"}}}}}


async def _run(importer: Importer, request: Request, session: AsyncSession, runtime: Runtime,
               principal: AuthPrincipal) -> Response:
    chunks = bulk.ndjson_chunks(request.stream(), runtime.settings.skillsub_bulk_chunk_lines)
    try:
        results = await importer(session, runtime, principal, chunks)
    finally:
        runtime.wake_relay()  # whatever chunks committed are published
    errors = sum(r.status == "error" for r in results)
    body = bulk.render(results)
    return Response(body, media_type=NDJSON, headers={"X-Lines-Ok": str(len(results) - errors),
                                                      "X-Lines-Error": str(errors)})


@router.post("/people", responses=AUTH_ERRORS, openapi_extra=DOC, response_class=Response)
async def bulk_people(request: Request, session: SessionDep, runtime: RuntimeDep,
                      principal: PrincipalDep) -> Response:
    """Lines like {"resident_id": ..., "district": ...}; result per line: accepted / error
    (accepted whether or not the person was already registered: no existence oracle)."""
    return await _run(bulk.import_people, request, session, runtime, principal)


@router.post("/facts", responses=AUTH_ERRORS, openapi_extra=DOC, response_class=Response)
async def bulk_facts(request: Request, session: SessionDep, runtime: RuntimeDep,
                     principal: PrincipalDep) -> Response:
    """Lines as POST /v1/facts; each feeder only its own fact kinds."""
    return await _run(bulk.import_facts, request, session, runtime, principal)


@router.post("/certificates", responses=AUTH_ERRORS, openapi_extra=DOC, response_class=Response)
async def bulk_certificates(request: Request, session: SessionDep, runtime: RuntimeDep,
                            principal: PrincipalDep) -> Response:
    """Lines as POST /v1/certificates; institutions only their own. Received today: a line naming a
    `received_on` is refused (the receipt day is the registry's, never the sender's)."""
    return await _run(bulk.import_certificates, request, session, runtime, principal)


@router.post("/certificates/historic", responses=AUTH_ERRORS, openapi_extra=DOC, response_class=Response)
async def bulk_historic_certificates(request: Request, session: SessionDep, runtime: RuntimeDep,
                                     principal: BureauDep) -> Response:
    """The bureau's migration of earlier years: lines as POST /v1/certificates plus the original
    `received_on` (not after today, not before the issue date), so the application window judges
    them as they were received. Bureau only; audited like every write (its request path names it)."""
    return await _run(bulk.import_historic_certificates, request, session, runtime, principal)


@router.post("/payee-accounts", responses=AUTH_ERRORS, openapi_extra=DOC, response_class=Response)
async def bulk_payee_accounts(request: Request, session: SessionDep, runtime: RuntimeDep,
                              principal: PrincipalDep) -> Response:
    """Lines as POST /v1/payee-accounts, each judged as that route judges it: the employment-service
    feeder sets workers' cards, the bureau organisations' accounts. Result per line: created (a new
    revision and its `registry.payee_account.recorded`), unchanged (that account already in force),
    or error with the field; `id` is the payee_ref. Numbers are never echoed, masked or not."""
    return await _run(bulk.import_payee_accounts, request, session, runtime, principal)
