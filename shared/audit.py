"""Append-only, hash-chained audit trail (等保2.0 level 3; 十四), one chain per service.

Every state-changing request (who, role, when, what, the resource before -> after reference,
outcome, request id) and every read of personal data by a privileged role is appended by the HTTP
middleware; consumers append one entry per applied batch. Each entry's hash covers the previous
entry's hash and its own canonical content, so an edited or removed entry breaks the chain and
`skillsub audit-verify <service>` finds it. Rows cannot be updated or deleted (trigger), except the
retention purge of entries older than the retention setting (never below 180 days), which keeps the
chain verifiable from its new first entry.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

GENESIS = "0" * 64
MIN_RETENTION_DAYS = 180
_LOCK = 7337002

metadata = sa.MetaData()
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False, unique=True),
)


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    role: str
    action: str  # e.g. "POST /v1/certificates", "consume registry.events", "read personal data"
    resource: str  # the path or resource reference the action touched
    outcome: str  # status code or "applied"
    request_id: str
    detail: dict[str, Any]


def entry_hash(prev_hash: str, seq: int, at: datetime, e: AuditEntry) -> str:
    body = json.dumps([prev_hash, seq, at.isoformat(), e.actor, e.role, e.action, e.resource, e.outcome,
                       e.request_id, e.detail], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


async def append(session: AsyncSession, entries: list[AuditEntry]) -> None:
    """Append in the caller's transaction; the advisory lock keeps the chain a single line."""
    if not entries:
        return
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK)))
    last = (await session.execute(sa.select(audit_log.c.seq, audit_log.c.hash)
                                  .order_by(audit_log.c.seq.desc()).limit(1))).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    rows = []
    for e in entries:
        seq += 1
        at = datetime.now(UTC)
        digest = entry_hash(prev, seq, at, e)
        rows.append({"seq": seq, "at": at, "actor": e.actor, "role": e.role, "action": e.action,
                     "resource": e.resource, "outcome": e.outcome, "request_id": e.request_id,
                     "detail": e.detail, "prev_hash": prev, "hash": digest})
        prev = digest
    await session.execute(sa.insert(audit_log).values(rows))


async def record(maker: async_sessionmaker[AsyncSession], entries: list[AuditEntry]) -> None:
    async with maker() as session, session.begin():
        await append(session, entries)


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None


async def verify(session: AsyncSession, batch: int = 5000) -> Verification:
    """Recompute the chain; report the first entry that was edited, removed or inserted."""
    prev: str | None = None
    expected_seq: int | None = None
    count, after = 0, 0
    while True:
        rows = (await session.execute(sa.select(audit_log).where(audit_log.c.seq > after)
                                      .order_by(audit_log.c.seq).limit(batch))).mappings().all()
        if not rows:
            return Verification(True, count)
        for r in rows:
            if expected_seq is not None and r["seq"] != expected_seq:
                return Verification(False, count, expected_seq, "an entry is missing")
            if prev is not None and r["prev_hash"] != prev:
                return Verification(False, count, r["seq"], "chain broken: previous entry changed or removed")
            entry = AuditEntry(r["actor"], r["role"], r["action"], r["resource"], r["outcome"],
                               r["request_id"], r["detail"])
            if entry_hash(r["prev_hash"], r["seq"], r["at"], entry) != r["hash"]:
                return Verification(False, count, r["seq"], "entry content does not match its hash")
            prev, expected_seq, count, after = r["hash"], r["seq"] + 1, count + 1, r["seq"]


async def purge(session: AsyncSession, retention_days: int) -> int:
    """Drop entries older than the retention (at least 180 days); the rest stays verifiable."""
    days = max(retention_days, MIN_RETENTION_DAYS)
    await session.execute(sa.text("SET LOCAL skillsub.audit_purge = 'on'"))
    result = await session.execute(sa.text(
        f"DELETE FROM audit_log WHERE at < now() - interval '{int(days)} days'"))
    return int(getattr(result, "rowcount", 0) or 0)


def request_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- same-transaction capture
# A request's session carries its audit context in `session.info["audit"]`. Any INSERT, UPDATE or
# DELETE it executes marks it as writing; just before it commits, the entry is appended in the
# same transaction, so a committed change always has its entry and a rolled-back one has none.

from sqlalchemy import event  # noqa: E402
from sqlalchemy.orm import ORMExecuteState, Session  # noqa: E402


@event.listens_for(Session, "do_orm_execute")
def _mark_writes(state: ORMExecuteState) -> None:
    info = state.session.info
    if "audit" in info and not info.get("audit_appending") and (
            state.is_insert or state.is_update or state.is_delete):
        info["audit_wrote"] = True


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    ctx: AuditEntry | None = session.info.get("audit")
    if ctx is None or not session.info.pop("audit_wrote", False):
        return
    session.info["audit_appending"] = True
    try:
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK)))
        last = session.execute(sa.select(audit_log.c.seq, audit_log.c.hash)
                               .order_by(audit_log.c.seq.desc()).limit(1)).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        at = datetime.now(UTC)
        session.execute(sa.insert(audit_log).values(
            seq=seq, at=at, actor=ctx.actor, role=ctx.role, action=ctx.action, resource=ctx.resource,
            outcome=ctx.outcome, request_id=ctx.request_id, detail=ctx.detail, prev_hash=prev,
            hash=entry_hash(prev, seq, at, ctx)))
    finally:
        session.info["audit_appending"] = False
