"""OAuth2 client credentials: short-lived HS256 tokens, secrets stored hashed, FastAPI dependencies.

The registry issues tokens (`POST /v1/oauth/token`) and owns the client table; every service
verifies tokens with the shared `SKILLSUB_SECRET_KEY`. A service that can tell whether a client is
still active (the registry) registers an async check under `CLIENT_CHECK` in its runtime state, so
a revoked client's unexpired tokens stop working there at once. Deny by default: no token is 401,
a token whose role is not allowed is 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request

from shared.problems import Problem
from shared.settings import Settings

ALGORITHM = "HS256"
ISSUER = "skillsub-registry"
CLIENT_CHECK = "auth_client_active"  # runtime.state key: async (client_id) -> bool
# hr approves payment batches and finance releases them (十二: two different roles, four eyes).
ROLES = frozenset({"institution", "feeder", "bureau", "district", "auditor", "hr", "finance"})
# Roles that may be granted the sight of full resident IDs (PIPL: least privilege for the others).
ID_VIEWER_ROLES = frozenset({"bureau", "auditor"})

# scrypt cost: about 16 MiB and tens of ms per check, slow enough to make stolen hashes expensive.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1

ClientCheck = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class AuthPrincipal:
    """Who called, as the token says. Services map this onto their own domain's principal."""

    client_id: str
    role: str
    institution_id: str | None = None
    feeder: str | None = None
    districts: frozenset[str] = frozenset()
    may_see_ids: bool = False


def hash_secret(secret: str) -> str:
    """`scrypt$n$r$p$salt$digest` (base64); a fresh salt each time."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_secret(secret: str, stored: str) -> bool:
    """Constant-time comparison against a `hash_secret` value; malformed hashes never match."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def issue_token(settings: Settings, principal: AuthPrincipal, *, now: float | None = None) -> str:
    """A signed token carrying the principal; valid for `skillsub_token_ttl_seconds`."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "sub": principal.client_id, "jti": uuid.uuid4().hex, "iat": issued,
        "exp": issued + settings.skillsub_token_ttl_seconds, "role": principal.role,
        "institution_id": principal.institution_id, "feeder": principal.feeder,
        "districts": sorted(principal.districts), "pii": principal.may_see_ids,
    }
    return jwt.encode(claims, settings.skillsub_secret_key, algorithm=ALGORITHM)


class InvalidToken(ValueError):
    """Expired, forged, or not one of ours."""


def decode_token(settings: Settings, token: str) -> AuthPrincipal:
    try:
        claims = jwt.decode(token, settings.skillsub_secret_key, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    role = claims.get("role")
    if role not in ROLES:
        raise InvalidToken("unknown role")
    return AuthPrincipal(
        client_id=str(claims["sub"]), role=role, institution_id=claims.get("institution_id"),
        feeder=claims.get("feeder"), districts=frozenset(claims.get("districts") or ()),
        # The flag only counts for roles that may hold it, whatever a token claims.
        may_see_ids=bool(claims.get("pii")) and role in ID_VIEWER_ROLES,
    )


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "Authentication required", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


async def get_principal(request: Request) -> AuthPrincipal:
    """The caller, from a valid bearer token of a client that is still active."""
    runtime = request.app.state.runtime
    try:
        principal = decode_token(runtime.settings, _bearer(request))
    except InvalidToken:
        raise _unauthorized("Invalid or expired token") from None
    check: ClientCheck | None = runtime.state.get(CLIENT_CHECK)
    if check is not None and not await check(principal.client_id):
        raise _unauthorized("Client revoked")
    return principal


PrincipalDep = Annotated[AuthPrincipal, Depends(get_principal)]


def require_roles(*roles: str) -> Any:
    """A dependency: the caller, if its role is one of `roles`; 403 otherwise."""
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def _require(principal: PrincipalDep) -> AuthPrincipal:
        if principal.role not in roles:
            raise Problem(403, "Forbidden", f"role {principal.role} may not do this")
        return principal

    return Depends(_require)
