"""OAuth2 client credentials (RFC 6749 §4.4) and the bureau's client administration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import JSONResponse

from services.registry import clients
from services.registry.schemas import ClientCreate
from shared.app import RuntimeDep, SessionDep
from shared.auth import CLIENT_CHECK, AuthPrincipal, issue_token, require_roles
from shared.problems import Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["auth"])
BureauDep = Annotated[AuthPrincipal, require_roles("bureau")]


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Basic"} if status == 401 else {}
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers=headers | {"Cache-Control": "no-store"})


OAUTH_ERROR = {"application/json": {"schema": {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "error_description": {"type": "string"}}}}}


# RFC 6749 §5.2: token errors are {"error": ...} JSON, not problem+json.
@router.post("/oauth/token", summary="Exchange client credentials for a short-lived bearer token",
             responses={400: {"description": "Unsupported grant type", "content": OAUTH_ERROR},
                        401: {"description": "Unknown client, wrong secret or revoked", "content": OAUTH_ERROR}})
async def token(session: SessionDep, runtime: RuntimeDep, grant_type: Annotated[str, Form()],
                client_id: Annotated[str, Form(max_length=64)],
                client_secret: Annotated[str, Form(max_length=256)]) -> JSONResponse:
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    principal = await clients.authenticate(session, client_id, client_secret)
    if principal is None:
        return _oauth_error(401, "invalid_client", "unknown client, wrong secret or revoked")
    ttl = runtime.settings.skillsub_token_ttl_seconds
    return JSONResponse({"access_token": issue_token(runtime.settings, principal), "token_type": "Bearer",
                         "expires_in": ttl}, headers={"Cache-Control": "no-store"})


@router.post("/clients", status_code=201, summary="Issue a client (bureau); the secret is shown once",
             responses=problem_responses(409))
async def create_client(body: ClientCreate, session: SessionDep, _: BureauDep) -> dict[str, Any]:
    spec = clients.ClientSpec(body.client_id, body.role, body.institution_id,
                              body.feeder.value if body.feeder else None, frozenset(body.districts),
                              body.may_see_ids, body.description)
    secret = await clients.create_client(session, spec)
    await session.commit()
    return {"client_id": body.client_id, "client_secret": secret, "role": body.role}


@router.delete("/clients/{client_id}", status_code=204, summary="Revoke a client and its live tokens (bureau)")
async def revoke_client(client_id: str, session: SessionDep, runtime: RuntimeDep, _: BureauDep) -> None:
    if not await clients.revoke_client(session, client_id):
        raise Problem(404, "Client not found", f"no client {client_id}", field="client_id")
    await session.commit()
    status = runtime.state.get(CLIENT_CHECK)
    if isinstance(status, clients.ClientStatus):
        status.forget(client_id)
