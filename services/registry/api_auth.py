"""OAuth2 client credentials (RFC 6749 §4.4), the signing keys (JWKS), revocations, and the
security administrator's client administration (等保2.0: separate from the bureau's business role)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from services.registry import clients
from services.registry.schemas import ClientCreate
from services.registry.store import api_clients
from shared.app import RuntimeDep, SessionDep
from shared.auth import (
    JWKS_PATH,
    REVOCATIONS_PATH,
    AuthPrincipal,
    InvalidToken,
    audience_for,
    auth_failed,
    issue_token,
    require_roles,
    revocation_digest,
    signing_ring,
)
from shared.limits import SlidingWindow
from shared.problems import Problem, problem_responses

router = APIRouter(tags=["auth"])
SecurityAdminDep = Annotated[AuthPrincipal, require_roles("security_admin")]


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None
                 ) -> JSONResponse:
    extra = {"WWW-Authenticate": "Basic"} if status == 401 else {}
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers=extra | (headers or {}) | {"Cache-Control": "no-store"})


OAUTH_ERROR = {"application/json": {"schema": {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "error_description": {"type": "string"}}}}}


def _limits(runtime: Any) -> tuple[SlidingWindow, SlidingWindow]:
    limiters = runtime.state.get("token_limiters")
    if limiters is None:
        s = runtime.settings
        limiters = runtime.state["token_limiters"] = (
            SlidingWindow(s.skillsub_token_attempts_per_minute, 60.0),
            SlidingWindow(s.skillsub_token_attempts_per_address_per_minute, 60.0))
    return limiters  # type: ignore[no-any-return]


def _throttled(request: Request, runtime: Any, client_id: str) -> JSONResponse | None:
    """Per client id and per address: a guessing run on one id, or from one address, is cut off."""
    per_client, per_address = _limits(runtime)
    address = request.client.host if request.client else "unknown"
    for limiter, key in ((per_client, client_id), (per_address, address)):
        if not limiter.allow(key):
            auth_failed(request, "token rate limit")
            return _oauth_error(429, "slow_down", "too many token requests; retry later",
                                {"Retry-After": str(limiter.retry_after(key))})
    return None


# RFC 6749 §5.2: token errors are {"error": ...} JSON, not problem+json.
@router.post("/v1/oauth/token", summary="Exchange client credentials for a short-lived bearer token",
             responses={400: {"description": "Unsupported grant type or audience", "content": OAUTH_ERROR},
                        401: {"description": "Unknown client, wrong secret or revoked", "content": OAUTH_ERROR},
                        429: {"description": "Too many attempts for this client or address",
                              "content": OAUTH_ERROR}})
async def token(request: Request, session: SessionDep, runtime: RuntimeDep, grant_type: Annotated[str, Form()],
                client_id: Annotated[str, Form(max_length=64)],
                client_secret: Annotated[str, Form(max_length=256)],
                audience: Annotated[str | None, Form(max_length=200, description=(
                    "space-separated services the token is for; default: every service the role uses"))] = None,
                ) -> JSONResponse:
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    throttled = _throttled(request, runtime, client_id)
    if throttled is not None:
        return throttled
    slots = runtime.state.setdefault("scrypt_slots", asyncio.Semaphore(clients.SCRYPT_SLOTS))
    principal = await clients.authenticate(session, client_id, client_secret, slots)
    if principal is None:
        auth_failed(request, "client credentials refused")
        return _oauth_error(401, "invalid_client", "unknown client, wrong secret or revoked")
    try:
        aud = audience_for(principal.role, audience.split() if audience else None)
    except InvalidToken as exc:
        return _oauth_error(400, "invalid_target", exc.reason)
    ttl = runtime.settings.skillsub_token_ttl_seconds
    return JSONResponse({"access_token": issue_token(runtime.settings, principal, audience=aud),
                         "token_type": "Bearer", "expires_in": ttl}, headers={"Cache-Control": "no-store"})


@router.get(JWKS_PATH, summary="The public keys tokens are signed with (JWKS, RFC 7517)")
async def jwks(runtime: RuntimeDep) -> JSONResponse:
    ring = signing_ring(runtime.settings.signing_key_pem())
    return JSONResponse(ring.jwks(), headers={"Cache-Control": "public, max-age=60"})


@router.get(REVOCATIONS_PATH, summary="Revoked clients (as SHA-256 digests), for the other services' caches")
async def revocations(session: SessionDep) -> dict[str, list[str]]:
    rows = await session.execute(sa.select(api_clients.c.client_id).where(api_clients.c.revoked_at.is_not(None)))
    return {"revoked": sorted(revocation_digest(r.client_id) for r in rows)}


@router.post("/v1/clients", status_code=201, responses=problem_responses(409),
             summary="Issue a client (security administrator); the secret is shown once")
async def create_client(body: ClientCreate, session: SessionDep, _: SecurityAdminDep) -> dict[str, Any]:
    spec = clients.ClientSpec(body.client_id, body.role, body.institution_id,
                              body.feeder.value if body.feeder else None, frozenset(body.districts),
                              body.may_see_ids, body.description)
    secret = await clients.create_client(session, spec)
    await session.commit()
    return {"client_id": body.client_id, "client_secret": secret, "role": body.role}


@router.delete("/v1/clients/{client_id}", status_code=204,
               summary="Revoke a client and its live tokens (security administrator)")
async def revoke_client(client_id: str, session: SessionDep, runtime: RuntimeDep, caller: SecurityAdminDep) -> None:
    if client_id == caller.client_id:
        raise Problem(409, "Cannot revoke yourself", "another security administrator revokes this client",
                      field="client_id")
    if not await clients.revoke_client(session, client_id):
        raise Problem(404, "Client not found", f"no client {client_id}", field="client_id")
    await session.commit()
    status = runtime.verifier.client_check
    if isinstance(status, clients.ClientStatus):
        status.forget(client_id)
