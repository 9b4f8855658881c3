"""API clients: the bureau issues and revokes them; the token endpoint checks their secrets.

Secrets are stored scrypt-hashed. Demo clients (fixed ids and secrets, docs/auth.md) exist only
in the development and test environments, never in production.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.domain import Feeder
from services.registry.store import api_clients
from shared.auth import DUMMY_HASH, AuthPrincipal, hash_secret, verify_secret
from shared.places import rolled_into

# The demo institution is the issuer the backbone examples use; the demo district is 通州区.
DEMO_INSTITUTION_ID = "52320613MJ0000003P"
DEMO_DISTRICT = "320612"
STATUS_CACHE_SECONDS = 2.0  # how long another replica may still honour a revoked client


@dataclass(frozen=True)
class ClientSpec:
    client_id: str
    role: str
    institution_id: str | None = None
    feeder: str | None = None
    districts: frozenset[str] = frozenset()
    may_see_ids: bool = False
    description: str = ""


def demo_clients() -> list[tuple[ClientSpec, str]]:
    """(spec, secret) for one demo client per role, and one per government feeder."""
    specs = [
        ClientSpec("demo-bureau", "bureau", may_see_ids=True, description="demo 市人社局"),
        # A second bureau officer: parameter and Catalog uploads need one who did not submit them.
        ClientSpec("demo-bureau-2", "bureau", may_see_ids=True, description="demo second 市人社局 approver"),
        ClientSpec("demo-security-admin", "security_admin", description="demo 安全管理员: issues clients"),
        ClientSpec("demo-auditor", "auditor", may_see_ids=True, description="demo auditor"),
        ClientSpec("demo-district", "district", districts=rolled_into(DEMO_DISTRICT),
                   description="demo 通州区 staff"),
        ClientSpec("demo-institution", "institution", institution_id=DEMO_INSTITUTION_ID,
                   description="demo training institution"),
        # Payments: hr approves a batch, finance (another person) releases it.
        ClientSpec("demo-hr", "hr", description="demo 人社 payment approver"),
        ClientSpec("demo-hr-2", "hr", description="demo second 人社 approver"),
        ClientSpec("demo-finance", "finance", description="demo 财政 payment releaser"),
    ] + [ClientSpec(f"demo-feeder-{f.value}", "feeder", feeder=f.value, description=f"demo feeder {f.value}")
         for f in Feeder]
    return [(s, f"{s.client_id}-secret") for s in specs]


@lru_cache(maxsize=64)
def _demo_hash(secret: str) -> str:
    # Demo secrets are fixed, so hash each once per process: tests start many apps.
    return hash_secret(secret)


def _row(spec: ClientSpec, secret_hash: str) -> dict[str, Any]:
    return {"client_id": spec.client_id, "secret_hash": secret_hash, "role": spec.role,
            "institution_id": spec.institution_id, "feeder": spec.feeder,
            "districts": sorted(spec.districts), "may_see_ids": spec.may_see_ids,
            "description": spec.description}


async def ensure_demo_clients(session: AsyncSession) -> None:
    rows = [_row(spec, _demo_hash(secret)) for spec, secret in demo_clients()]
    await session.execute(insert(api_clients).on_conflict_do_nothing(), rows)


async def create_client(session: AsyncSession, spec: ClientSpec) -> str:
    """Store a new client and return its secret (shown once, never stored in clear)."""
    secret = secrets.token_urlsafe(32)
    hashed = await asyncio.to_thread(hash_secret, secret)
    stmt = insert(api_clients).values(**_row(spec, hashed)).on_conflict_do_nothing()
    if (await session.execute(stmt.returning(api_clients.c.client_id))).first() is None:
        from shared.problems import Problem
        raise Problem(409, "Client exists", f"client {spec.client_id} already exists", field="client_id")
    return secret


async def revoke_client(session: AsyncSession, client_id: str) -> bool:
    """Mark revoked (kept for the audit trail); False if no such client."""
    result = await session.execute(sa.update(api_clients).where(api_clients.c.client_id == client_id)
                                   .values(revoked_at=sa.func.coalesce(api_clients.c.revoked_at, sa.func.now()))
                                   .returning(api_clients.c.client_id))
    return result.first() is not None


# scrypt takes ~16 MiB and tens of ms: at most this many checks at once per process.
SCRYPT_SLOTS = 2


async def authenticate(session: AsyncSession, client_id: str, secret: str,
                       slots: asyncio.Semaphore | None = None) -> AuthPrincipal | None:
    """The client's principal if the secret matches and it is not revoked. An unknown or revoked
    client costs the same scrypt check as a wrong secret, so timing does not tell ids apart;
    `slots` bounds how many checks run at once."""
    row = (await session.execute(sa.select(api_clients).where(api_clients.c.client_id == client_id))
           ).mappings().first()
    usable = row is not None and row["revoked_at"] is None
    async with slots or asyncio.Semaphore(1):
        matched = await asyncio.to_thread(verify_secret, secret, row["secret_hash"] if usable and row else DUMMY_HASH)
    if not (usable and matched) or row is None:
        return None
    return AuthPrincipal(client_id=row["client_id"], role=row["role"], institution_id=row["institution_id"],
                         feeder=row["feeder"], districts=frozenset(row["districts"]),
                         may_see_ids=row["may_see_ids"])


class ClientStatus:
    """Is this client still active? Cached for a moment; `forget` after a local revocation."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], ttl: float = STATUS_CACHE_SECONDS) -> None:
        self.maker, self.ttl = maker, ttl
        self._cache: dict[str, tuple[bool, float]] = {}

    async def __call__(self, client_id: str) -> bool:
        hit = self._cache.get(client_id)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        async with self.maker() as session:
            revoked_at = await session.execute(sa.select(api_clients.c.revoked_at)
                                               .where(api_clients.c.client_id == client_id))
            row = revoked_at.first()
        active = row is not None and row.revoked_at is None
        self._cache[client_id] = (active, now + self.ttl)
        return active

    def forget(self, client_id: str) -> None:
        self._cache.pop(client_id, None)
