"""OAuth2 client credentials: short-lived Ed25519-signed tokens, one bearer dependency per service.

Only the registry signs (`POST /v1/oauth/token`), with the first key of its PEM key file; it
publishes the public half of every key in the file as a JWKS with key ids (RFC 7638 thumbprints)
at `/.well-known/jwks.json`. Every other service verifies with public keys only: those of the
registry's JWKS (fetched again when a token names a key id it does not know, so a rotation needs
no restart) and any configured in `SKILLSUB_JWKS_FILE`. Only `EdDSA` is accepted (an HS256 token,
whatever its secret, is refused), and `aud` must name the service. Revocation: the registry checks
its own client table; the others poll its revocation list every second and refuse tokens once
that list is older than `SKILLSUB_REVOCATION_MAX_AGE_SECONDS`. Deny by default: no token is 401,
a token whose role is not allowed is 403. Failed authentications are logged (never the token) and
counted in `skillsub_auth_failures`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.problems import Problem
from shared.settings import DEV_SIGNING_KEY, SERVICES, Settings

ALGORITHM = "EdDSA"
ISSUER = "skillsub-registry"
JWKS_PATH = "/.well-known/jwks.json"
REVOCATIONS_PATH = "/v1/oauth/revocations"
# A verified token is trusted again without its signature check for this long (never past its
# `exp`); its client's revocation is still checked on every request. Shorter than a key that left
# the JWKS stays trusted anyway (until the next fetch of the keys, every minute).
VERIFIED_TOKEN_SECONDS = 5.0
VERIFIED_TOKENS_MAX = 1_000  # about 1 KB each; cleared when full
# hr approves payment batches and finance releases them (十二: two different roles, four eyes).
# security_admin issues and revokes clients (等保2.0 level 3: 系统管理员 / 安全管理员 / 审计管理员 apart).
ROLES = frozenset({"institution", "feeder", "bureau", "district", "auditor", "hr", "finance",
                   "security_admin"})
# Roles that may be granted the sight of full resident IDs (PIPL: least privilege for the others).
ID_VIEWER_ROLES = frozenset({"bureau", "auditor"})
# The services a role's token is good for when the client asks for no narrower audience: a token
# that leaks from one service cannot be replayed at a service its role has no business with.
ROLE_AUDIENCES: Mapping[str, frozenset[str]] = {
    "institution": frozenset({"registry", "eligibility"}),  # eligibility: asking for a review
    "feeder": frozenset({"registry", "eligibility"}),
    "district": frozenset({"registry", "eligibility", "reporting"}),
    "hr": frozenset({"payments", "eligibility"}),
    "finance": frozenset({"payments", "eligibility"}),
    "security_admin": frozenset({"registry"}),
    "bureau": frozenset(SERVICES),
    "auditor": frozenset(SERVICES),
}

# scrypt cost: about 16 MiB and tens of ms per check, slow enough to make stolen hashes expensive.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
log = logging.getLogger("skillsub.auth")

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


# ---------------------------------------------------------------------------------- secrets

def hash_secret(secret: str) -> str:
    """`scrypt$n$r$p$salt$digest` (base64); a fresh salt each time."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


# Checked when the client id is unknown, so an unknown id costs the same scrypt as a wrong secret.
DUMMY_HASH = hash_secret("no such client: the answer must take as long as a wrong secret")


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


# ---------------------------------------------------------------------------------- keys

def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK of a public key; `kid` is its RFC 7638 thumbprint."""
    x = _b64url(_raw_public(key))
    thumb = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "alg": ALGORITHM, "use": "sig",
            "kid": _b64url(hashlib.sha256(thumb.encode()).digest())}


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """kid -> public key for the Ed25519 signing keys of a JWKS; anything else is ignored."""
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in jwks.get("keys", ()):
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or jwk.get("use", "sig") != "sig":
            continue
        raw = base64.urlsafe_b64decode(str(jwk["x"]) + "=" * (-len(str(jwk["x"])) % 4))
        key = Ed25519PublicKey.from_public_bytes(raw)
        keys[public_jwk(key)["kid"]] = key  # the kid is recomputed, never taken on trust
    return keys


@dataclass(frozen=True)
class SigningRing:
    """The registry's keys: the first signs, all are published (the rest are retiring)."""

    signer: Ed25519PrivateKey
    kid: str
    public: Mapping[str, Ed25519PublicKey]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(k) for k in self.public.values()]}


@lru_cache(maxsize=8)
def signing_ring(pem: str) -> SigningRing:
    """Parse one or more PEM Ed25519 private keys (concatenated)."""
    blocks = [b + "-----END PRIVATE KEY-----\n" for b in pem.split("-----END PRIVATE KEY-----") if b.strip()]
    loaded = [serialization.load_pem_private_key(b.strip().encode() + b"\n", password=None) for b in blocks]
    keys = [k for k in loaded if isinstance(k, Ed25519PrivateKey)]
    if not keys or len(keys) != len(loaded):
        raise ValueError("the signing key file must hold one or more Ed25519 private keys (PEM)")
    publics = {public_jwk(k.public_key())["kid"]: k.public_key() for k in keys}
    return SigningRing(keys[0], public_jwk(keys[0].public_key())["kid"], publics)


def generate_signing_key_pem() -> str:
    """A fresh Ed25519 private key in PEM (for `skillsub keygen` and rotation tests)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


# ---------------------------------------------------------------------------------- tokens

def audience_for(role: str, requested: Iterable[str] | None = None) -> list[str]:
    """The token's `aud`: what the client asked for, within what its role may reach."""
    allowed = ROLE_AUDIENCES.get(role, frozenset())
    wanted = set(requested) if requested is not None else set(allowed)
    if not wanted or not wanted <= allowed:
        raise InvalidToken(f"audience must be among {sorted(allowed)}")
    return sorted(wanted)


def issue_token(settings: Settings, principal: AuthPrincipal, *, audience: Iterable[str] | None = None,
                now: float | None = None) -> str:
    """A token carrying the principal, signed with the registry's current key; `aud` is
    `audience`, or the role's services (the token endpoint narrows it with `audience_for`)."""
    ring = signing_ring(settings.signing_key_pem())
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "sub": principal.client_id, "jti": uuid.uuid4().hex, "iat": issued,
        "exp": issued + settings.skillsub_token_ttl_seconds, "role": principal.role,
        "aud": sorted(audience) if audience is not None else audience_for(principal.role),
        "institution_id": principal.institution_id, "feeder": principal.feeder,
        "districts": sorted(principal.districts), "pii": principal.may_see_ids,
    }
    return jwt.encode(claims, ring.signer, algorithm=ALGORITHM, headers={"kid": ring.kid})


class InvalidToken(ValueError):
    """Expired, forged, for another service, or not one of ours. `reason` never holds the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RevocationsUnavailable(RuntimeError):
    """The revocation list is too old to trust tokens against it."""


def token_kid(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("malformed") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {str(header.get('alg'))[:16]} refused")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("no key id")
    return kid


def decode_token(keys: Mapping[str, Ed25519PublicKey], token: str, audience: str) -> AuthPrincipal:
    """The principal of a token signed by one of `keys` and addressed to `audience`."""
    return decode_token_expiring(keys, token, audience)[0]


def decode_token_expiring(keys: Mapping[str, Ed25519PublicKey], token: str,
                          audience: str) -> tuple[AuthPrincipal, float]:
    """`decode_token`, and the token's expiry (`exp`, seconds since the epoch)."""
    key = keys.get(token_kid(token))
    if key is None:
        raise InvalidToken("unknown key id")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], issuer=ISSUER, audience=audience,
                            options={"require": ["exp", "iat", "sub", "iss", "aud"]})
    except jwt.InvalidAudienceError:
        raise InvalidToken("token is for another service") from None
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
    ), float(claims["exp"])


def revocation_digest(client_id: str) -> str:
    """How the public revocation list names a client (it need not tell who the clients are)."""
    return hashlib.sha256(f"skillsub-revoked:{client_id}".encode()).hexdigest()


# ---------------------------------------------------------------------------------- verifying

@dataclass
class Verifier:
    """One service's view of the registry's keys and revocations."""

    settings: Settings
    service: str
    local_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    client_check: ClientCheck | None = None  # the registry: its own client table
    http: httpx.AsyncClient | None = None
    _fetched: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    _last_fetch: float = -1e9
    _next_fetch: float = -1e9
    _revoked: frozenset[str] = frozenset()
    _revoked_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Tokens whose signature, issuer, audience and claims checked out: token -> (principal, until).
    _verified: dict[str, tuple[AuthPrincipal, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        if s.skillsub_jwks_file is not None:
            self.local_keys |= keys_from_jwks(json.loads(Path(s.skillsub_jwks_file).read_text()))
        if s.skillsub_env != "production" and not s.skillsub_registry_url:
            self.local_keys |= signing_ring(DEV_SIGNING_KEY).public  # development and tests only

    @property
    def polls_registry(self) -> bool:
        return self.client_check is None and bool(self.settings.skillsub_registry_url)

    def _client(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(base_url=str(self.settings.skillsub_registry_url), timeout=3.0)
        return self.http

    async def verify(self, token: str) -> AuthPrincipal:
        principal = self._checked(token) or await self._decode(token)
        if not await self._active(principal.client_id):  # every request: revocation is per client
            raise InvalidToken("client revoked")
        return principal

    def _checked(self, token: str) -> AuthPrincipal | None:
        """A token verified in the last VERIFIED_TOKEN_SECONDS and not expired since: the Ed25519
        check and claim parsing cost about 0.35 ms a request, the largest part of an authenticated
        request's CPU after the HTTP framing (docs/performance.md)."""
        hit = self._verified.get(token)
        if hit is None:
            return None
        if time.time() < hit[1]:
            return hit[0]
        del self._verified[token]
        return None

    async def _decode(self, token: str) -> AuthPrincipal:
        kid = token_kid(token)
        if kid not in self.local_keys and kid not in self._fetched:
            await self._refresh_keys()
        principal, exp = decode_token_expiring({**self._fetched, **self.local_keys}, token, self.service)
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            self._verified.clear()
        self._verified[token] = (principal, min(exp, time.time() + VERIFIED_TOKEN_SECONDS))
        return principal

    async def _refresh_keys(self) -> None:
        """Fetch the JWKS again, at most every 5 s after a fetch that worked (an unknown kid must not
        become a flood), and 0.5 s after one that failed: a service that started before the registry
        must not refuse every token for 5 s once the registry is up."""
        if not self.settings.skillsub_registry_url or time.monotonic() < self._next_fetch:
            return
        async with self._lock:
            if time.monotonic() < self._next_fetch:
                return
            try:
                r = await self._client().get(JWKS_PATH)
                r.raise_for_status()
                self._fetched = keys_from_jwks(r.json())
                self._last_fetch = time.monotonic()
                self._next_fetch = self._last_fetch + 5.0
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self._next_fetch = time.monotonic() + 0.5
                log.warning("JWKS fetch from the registry failed: %s", type(exc).__name__)

    async def _active(self, client_id: str) -> bool:
        if self.client_check is not None:
            return await self.client_check(client_id)
        if not self.polls_registry:
            return True  # development/test without a registry: production requires SKILLSUB_REGISTRY_URL
        if self._age() > self.settings.skillsub_revocation_max_age_seconds:
            await self._refresh_revocations()  # stale (the registry started late, or is away): ask now
        age = self._age()
        if age > self.settings.skillsub_revocation_max_age_seconds:
            raise RevocationsUnavailable("revocation list is " + ("missing" if age == float("inf") else
                                                                 f"{age:.0f} s old"))
        return revocation_digest(client_id) not in self._revoked

    def _age(self) -> float:
        return time.monotonic() - self._revoked_at if self._revoked_at is not None else float("inf")

    async def _refresh_revocations(self) -> None:
        try:
            r = await self._client().get(REVOCATIONS_PATH)
            r.raise_for_status()
            self._revoked, self._revoked_at = frozenset(r.json()["revoked"]), time.monotonic()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("revocation list fetch failed: %s", type(exc).__name__)

    async def poll_revocations(self) -> None:
        """Background loop: refresh the revocation list (and the keys, every minute)."""
        while True:
            await self._refresh_revocations()
            if time.monotonic() - self._last_fetch > 60:
                await self._refresh_keys()
            await asyncio.sleep(self.settings.skillsub_revocation_poll_seconds)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()


# ---------------------------------------------------------------------------------- FastAPI

BEARER = HTTPBearer(auto_error=False, description="A token from the registry's POST /v1/oauth/token",
                    scheme_name="bearer")
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def auth_failed(request: Request, reason: str) -> None:
    """Log (path, reason, address: never the credentials) and count a failed authentication."""
    runtime = request.app.state.runtime
    runtime.metrics.auth_failures.labels(reason.split(":")[0][:40]).inc()
    log.warning("authentication failed: %s", reason,
                extra={"path": request.url.path, "client_host": request.client.host if request.client else ""})


async def get_principal(request: Request, credentials: CredentialsDep) -> AuthPrincipal:
    """The caller, from a valid bearer token of a client that is still active."""
    if credentials is None:
        auth_failed(request, "no bearer token")
        raise HTTPException(401, "Authentication required", headers={"WWW-Authenticate": "Bearer"})
    verifier: Verifier = request.app.state.runtime.verifier
    try:
        principal = await verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        auth_failed(request, exc.reason)
        raise _unauthorized("Client revoked" if exc.reason == "client revoked"
                            else "Invalid or expired token") from None
    except RevocationsUnavailable as exc:
        auth_failed(request, "revocation list unavailable")
        raise Problem(503, "Authentication unavailable", str(exc)) from None
    request.state.principal = principal
    return principal


async def optional_principal(request: Request, credentials: CredentialsDep) -> AuthPrincipal | None:
    """For public routes whose answer depends on who reads (exact or small cells suppressed):
    None without a token; a bearer token, when one is sent, must be valid (never a silent fallback)."""
    return None if credentials is None else await get_principal(request, credentials)


OptionalPrincipalDep = Annotated[AuthPrincipal | None, Depends(optional_principal)]


def principal_of(request: Request) -> AuthPrincipal | None:
    """The principal `get_principal` verified for this request, if any (never re-parses a header)."""
    return getattr(request.state, "principal", None)


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
