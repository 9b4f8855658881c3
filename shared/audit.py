"""Append-only, keyed hash chain of audit entries (等保2.0 level 3; 十四), one chain per service.

Every state-changing request (who, role, when, what, the resource, outcome, request id) and every
read of personal data by a privileged role is appended by the HTTP middleware; consumers append
one entry per applied batch. Each entry's hash is an HMAC-SHA256, under a key the service holds and
its database does not (`SKILLSUB_AUDIT_KEY`, one sub-key per service), of the previous entry's
hash and its own canonical content: whoever can write the table still cannot forge an entry.

What the database enforces (migration a0004): no UPDATE, no TRUNCATE, and a DELETE only of
entries at least 180 days old that a purge record (`audit_purges`, written by the owner role only)
covers; the runtime role holds neither DELETE nor TRUNCATE at all (shared/roles.py). What this
module checks: the first entry is the genesis (`prev_hash` of zeros at seq 1) or follows the last
recorded purge; every link and every HMAC; and the chain head against the checkpoints other
services recorded from the bus (`<service>.audit.checkpointed`, emitted every
`SKILLSUB_AUDIT_CHECKPOINT_SECONDS`), so cutting off the tail, or rewriting the whole table with
a key-less hash, is found by `skillsub audit-verify <service>`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import column_values, insert_many, raw_insert_sql
from shared.pii import load_pii_key

GENESIS = "0" * 64
MIN_RETENTION_DAYS = 180
KEYED = "hmac-sha256"
LEGACY = "sha256"  # entries written before the chain was keyed (a0004): allowed only as a prefix
CHECKPOINT_SUFFIX = ".audit.checkpointed"
APPEND_LOCK = _LOCK = 7337002  # the advisory lock every append takes before it reads the chain's head

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
    sa.Column("alg", sa.Text, nullable=False, server_default=LEGACY),
)
# Written by the owner role when it purges past retention: the chain's new first entry follows it.
audit_purges = sa.Table(
    "audit_purges", metadata,
    sa.Column("through_seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("last_hash", sa.Text, nullable=False),
    sa.Column("entries", sa.BigInteger, nullable=False),
    sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("purged_by", sa.Text, nullable=False),
)
# Other services' chain heads, as they published them on the bus.
audit_checkpoints = sa.Table(
    "audit_checkpoints", metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("audit_checkpoints_service_seq", "service", "seq"),
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


def audit_key(setting: str, service: str) -> bytes:
    """The service's chain key, derived from the SKILLSUB_AUDIT_KEY master (base64 of 32 bytes)."""
    master = load_pii_key(setting)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"skillsub audit hmac v1 {service}".encode()).derive(master)


def _canonical(prev_hash: str, seq: int, at: datetime, e: AuditEntry) -> bytes:
    return json.dumps([prev_hash, seq, at.isoformat(), e.actor, e.role, e.action, e.resource, e.outcome,
                       e.request_id, e.detail], sort_keys=True, ensure_ascii=False, default=str).encode()


def entry_hash(key: bytes | None, prev_hash: str, seq: int, at: datetime, e: AuditEntry) -> str:
    """HMAC-SHA256 under `key`; the unkeyed SHA-256 of legacy entries when `key` is None."""
    body = _canonical(prev_hash, seq, at, e)
    return hmac.new(key, body, hashlib.sha256).hexdigest() if key else hashlib.sha256(body).hexdigest()


def _key_of(session: AsyncSession | Any) -> bytes:
    key = session.info.get("audit_key")
    if not key:
        raise RuntimeError("no audit key on this session (shared.db.make_sessionmaker(audit_key=...))")
    return bytes(key)


def _rows(key: bytes, seq: int, prev: str, entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    rows = []
    for e in entries:
        seq += 1
        at = datetime.now(UTC)
        digest = entry_hash(key, prev, seq, at, e)
        rows.append({"seq": seq, "at": at, "actor": e.actor, "role": e.role, "action": e.action,
                     "resource": e.resource, "outcome": e.outcome, "request_id": e.request_id,
                     "detail": e.detail, "prev_hash": prev, "hash": digest, "alg": KEYED})
        prev = digest
    return rows


_HEAD = sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_PURGED = sa.select(audit_purges.c.through_seq, audit_purges.c.last_hash).order_by(
    audit_purges.c.through_seq.desc()).limit(1)


async def append(session: AsyncSession, entries: list[AuditEntry]) -> None:
    """Append in the caller's transaction; the advisory lock keeps the chain a single line."""
    if not entries:
        return
    key = _key_of(session)
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK)))
    last = (await session.execute(_HEAD)).first() or (await session.execute(_PURGED)).first()
    seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    # One statement text whatever the number of entries (a group commit appends one per request):
    # a multi-VALUES insert was compiled by SQLAlchemy and prepared by asyncpg for every count.
    await insert_many(session, audit_log, _rows(key, seq, prev, entries), conflict="")


# The same append on a bare asyncpg connection, inside its open transaction (the certificate group
# commit, services/registry/group.py): the lock, then the head in a later statement (its snapshot
# taken once the lock is held, so no append committed meanwhile is missed), then one insert.
_HEAD_SQL = ("SELECT seq, hash FROM ((SELECT seq, hash, 0 AS o FROM audit_log ORDER BY seq DESC LIMIT 1) "
             "UNION ALL (SELECT through_seq, last_hash, 1 FROM audit_purges ORDER BY through_seq DESC LIMIT 1)) h "
             "ORDER BY o LIMIT 1")
_RAW_NAMES = ("seq", "at", "actor", "role", "action", "resource", "outcome", "request_id", "detail", "prev_hash",
              "hash", "alg")


async def append_raw(raw: Any, key: bytes, entries: Sequence[AuditEntry]) -> None:
    """`append` on an asyncpg connection already in a transaction: the same lock, head and rows."""
    if not entries:
        return
    await raw.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
    last = await raw.fetchrow(_HEAD_SQL)
    seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
    rows = _rows(key, seq, prev, entries)
    await raw.execute(raw_insert_sql(audit_log, _RAW_NAMES, ""),
                      *(column_values(audit_log.c[n], [r[n] for r in rows]) for n in _RAW_NAMES))


async def record(maker: Callable[[], AsyncSession], entries: list[AuditEntry]) -> None:
    async with maker() as session, session.begin():
        await append(session, entries)


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    checkpoints: int = 0


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str


async def _start(session: AsyncSession) -> tuple[int, str]:
    """(seq, hash) the first entry must follow: the genesis, or the last recorded purge."""
    purged = (await session.execute(_PURGED)).first()
    return (int(purged[0]), str(purged[1])) if purged else (0, GENESIS)


def _check_row(key: bytes, r: Any, expected_seq: int, prev: str, keyed_seen: bool, is_first: bool
               ) -> str | None:
    if r["seq"] != expected_seq:
        return "an entry is missing" if r["seq"] > expected_seq else "entries out of order"
    if r["prev_hash"] != prev:
        return ("the first entry is neither the genesis nor after a recorded purge" if is_first
                else "chain broken: previous entry changed or removed")
    if r["alg"] == LEGACY and keyed_seen:
        return "an unkeyed entry after keyed ones"
    entry = AuditEntry(r["actor"], r["role"], r["action"], r["resource"], r["outcome"], r["request_id"],
                       r["detail"])
    want = entry_hash(key if r["alg"] == KEYED else None, r["prev_hash"], r["seq"], r["at"], entry)
    if r["alg"] not in (KEYED, LEGACY) or not hmac.compare_digest(want, r["hash"]):
        return "entry content does not match its hash"
    return None


async def verify(session: AsyncSession, checkpoints: Sequence[Checkpoint] = (), batch: int = 5000,
                 key: bytes | None = None) -> Verification:
    """Recompute the chain from its start; check the heads that other services recorded."""
    key = key or _key_of(session)
    after, prev = await _start(session)
    first, count, keyed_seen, hashes = after, 0, False, {}
    wanted = {c.seq: c.hash for c in checkpoints if c.seq > first}
    while True:
        rows = (await session.execute(sa.select(audit_log).where(audit_log.c.seq > after)
                                      .order_by(audit_log.c.seq).limit(batch))).mappings().all()
        for r in rows:
            problem = _check_row(key, r, after + 1, prev, keyed_seen, after == first)
            if problem:
                return Verification(False, count, after + 1, problem, after)
            if r["seq"] in wanted:
                hashes[r["seq"]] = r["hash"]
            prev, after, count, keyed_seen = r["hash"], r["seq"], count + 1, keyed_seen or r["alg"] == KEYED
        if len(rows) < batch:
            break
    return _against_checkpoints(wanted, hashes, count, after)


def _against_checkpoints(wanted: dict[int, str], hashes: dict[int, str], count: int, head: int
                         ) -> Verification:
    for seq in sorted(wanted):
        if seq > head:
            return Verification(False, count, head + 1, f"truncated: a checkpoint recorded seq {seq}, "
                                f"the chain ends at {head}", head, len(wanted))
        if hashes.get(seq) != wanted[seq]:
            return Verification(False, count, seq, "rewritten: the entry differs from its checkpoint",
                                head, len(wanted))
    return Verification(True, count, None, None, head, len(wanted))


async def head(session: AsyncSession) -> Checkpoint | None:
    row = (await session.execute(_HEAD)).first()
    return Checkpoint(int(row[0]), str(row[1])) if row else None


async def record_checkpoints(session: AsyncSession, items: Sequence[tuple[uuid.UUID, str, int, str, datetime]]
                             ) -> None:
    """Store (event_id, service, seq, hash, at) heads received from the bus; repeats change nothing."""
    if items:
        await session.execute(insert(audit_checkpoints).on_conflict_do_nothing(), [
            {"event_id": i, "service": s, "seq": q, "hash": h, "at": a} for i, s, q, h, a in items])


async def checkpoints_for(session: AsyncSession, service: str) -> list[Checkpoint]:
    rows = await session.execute(sa.select(audit_checkpoints.c.seq, audit_checkpoints.c.hash)
                                 .where(audit_checkpoints.c.service == service).distinct())
    return [Checkpoint(int(r.seq), str(r.hash)) for r in rows]


async def purge(session: AsyncSession, retention_days: int, purged_by: str) -> int:
    """Owner role only: record a purge of entries past the retention (at least 180 days), delete
    them, and append an entry saying so; the chain stays verifiable from its new first entry."""
    days = max(retention_days, MIN_RETENTION_DAYS)
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK)))
    cutoff = sa.func.now() - sa.text(f"interval '{int(days)} days'")
    last = (await session.execute(sa.select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.at < cutoff)
                                  .order_by(audit_log.c.seq.desc()).limit(1))).first()
    if last is None:
        return 0
    first = (await session.execute(_PURGED)).first()
    gone = int(last.seq) - (int(first[0]) if first else 0)
    await session.execute(sa.insert(audit_purges).values(through_seq=last.seq, last_hash=last.hash,
                                                         entries=gone, purged_by=purged_by))
    await session.execute(sa.delete(audit_log).where(audit_log.c.seq <= last.seq))
    await append(session, [AuditEntry(purged_by, "owner", "purge audit log", f"seq <= {last.seq}",
                                      "purged", request_id(), {"entries": gone, "retention_days": days})])
    return gone


@dataclass(frozen=True)
class ServiceReport:
    ok: bool
    text: str


async def verify_service(settings: Any, service: str) -> ServiceReport:
    """`skillsub audit-verify`: the service's chain, against every checkpoint of it that the other
    services' databases recorded. No checkpoint at all is a failure once the chain is older than
    three checkpoint intervals: without one, a chain cut short cannot be told from a young one."""
    from shared.db import make_engine, make_sessionmaker
    from shared.settings import SERVICES

    marks, sources = [], []
    for other in (s for s in SERVICES if s != service):
        engine = make_engine(settings.database_url_for(other), pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                found = await checkpoints_for(session, service)
        except Exception as exc:  # noqa: BLE001 - an unreachable peer is reported, not fatal
            sources.append(f"{other}: unreadable ({type(exc).__name__})")
            continue
        finally:
            await engine.dispose()
        marks += found
        sources.append(f"{other}: {len(found)}")
    engine = make_engine(settings.database_url_for(service), pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            result = await verify(session, marks, key=audit_key(settings.skillsub_audit_key, service))
            oldest = (await session.execute(sa.select(sa.func.min(audit_log.c.at)))).scalar()
    finally:
        await engine.dispose()
    where = "checkpoints recorded by " + ", ".join(sources)
    if not result.ok:
        return ServiceReport(False, f"{service}: TAMPERED at seq {result.first_bad_seq}: {result.problem} ({where})")
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
    young = age < 3 * settings.skillsub_audit_checkpoint_seconds
    if not marks and not young:
        return ServiceReport(False, f"{service}: {result.entries} entries chain correctly, but no other service "
                             f"recorded a checkpoint: a cut-off tail cannot be ruled out ({where})")
    return ServiceReport(True, f"{service}: {result.entries} entries verified up to seq {result.head_seq}; "
                         f"{len(marks)} {where}")


def request_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- same-transaction capture
# A request's session carries its audit context in `session.info["audit"]` (an AuditEntry, or a
# function building one once the route has run). Any INSERT, UPDATE or DELETE it executes marks
# it as writing; just before it commits, the entry is appended in the same transaction, so a
# committed change always has its entry and a rolled-back one has none.

from sqlalchemy import event  # noqa: E402
from sqlalchemy.orm import ORMExecuteState, Session  # noqa: E402


def add_detail(session: AsyncSession, **detail: object) -> None:
    """Add to the request's audit entry (built at commit, shared/app.py) what the route learned,
    e.g. what the caller is not told; nothing when the session is not a request's."""
    info = session.sync_session.info
    if "audit" not in info:
        return
    # Wrap the request's own context, never a previous wrapper: a bulk upload adds its counts once
    # per chunk (one commit each; a later call replaces a key), and wrappers must not nest.
    ctx: AuditEntry | Callable[[], AuditEntry] = info.setdefault("audit_base", info["audit"]) or info["audit"]
    added = info["audit_added"] = {**info.get("audit_added", {}), **detail}

    def with_detail() -> AuditEntry:
        entry = ctx if isinstance(ctx, AuditEntry) else ctx()
        return dataclasses.replace(entry, detail={**entry.detail, **added})

    info["audit"] = with_detail


@event.listens_for(Session, "do_orm_execute")
def _mark_writes(state: ORMExecuteState) -> None:
    info = state.session.info
    if "audit" in info and not info.get("audit_appending") and (
            state.is_insert or state.is_update or state.is_delete):
        info["audit_wrote"] = True


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    ctx: AuditEntry | Callable[[], AuditEntry] | None = session.info.get("audit")
    if ctx is None or not session.info.pop("audit_wrote", False):
        return
    entry = ctx if isinstance(ctx, AuditEntry) else ctx()
    session.info["audit_appending"] = True
    try:
        key = _key_of(session)
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK)))
        last = session.execute(_HEAD).first() or session.execute(_PURGED).first()
        seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
        session.execute(sa.insert(audit_log).values(_rows(key, seq, prev, [entry])))
    finally:
        session.info["audit_appending"] = False
