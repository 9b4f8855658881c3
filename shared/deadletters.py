"""Dead letters as operators handle them: list, show, replay, discard (every service, same API).

An event the consumer could not apply after its retries is a `dead_letter` row, and a dead-lettered
decision is a payment nobody will make, so each one is resolved by a person:

- replay: once the cause is fixed (a parameter file, a deploy), the stored event runs through the
  inbox path again (shared/inbox.py `claim`/`apply_claimed`: the service's handler and the batch's
  audit entry) in ONE transaction that also marks the dead letter replayed, under a row lock. So it
  takes effect exactly once: a second replay finds it resolved, a concurrent redelivery finds the
  event in the inbox, and a replay that fails again changes nothing but the error it records.
- discard: the event is given up, with a reason that goes into the audit log with the person.

Auditors and the bureau read them (`GET /v1/dead-letters`, `/v1/dead-letters/{id}`); the bureau
resolves them. `skillsub dead-letters list|show|replay|discard <service>` calls the same API.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' annotations as objects,
# and SessionDep comes from shared.app, which imports this module (so it is imported in router()).
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import sqlalchemy as sa
from aiokafka.structs import ConsumerRecord
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import add_detail
from shared.auth import AuthPrincipal, require_roles
from shared.events import Event
from shared.inbox import Handler, apply_claimed, claim, parse_records
from shared.problems import Problem, problem_responses

if TYPE_CHECKING:
    from shared.app import Runtime

Status = Literal["open", "replayed", "discarded"]
MAX_ID = 2**63 - 1


class DeadLetterRead(BaseModel):
    """A dead letter as listed: what failed, where it came from, and how it was resolved."""

    id: int
    consumer: str
    event_id: UUID | None
    event_type: str | None = Field(description="the envelope's `type`, when it could be read")
    topic: str
    partition: int
    offset: int
    error: str
    attempts: int
    created_at: datetime
    status: Status
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None = Field(description="replay outcome, or the reason it was discarded")


class DeadLetterDetail(DeadLetterRead):
    envelope: str = Field(description="the message as it was received (envelope JSON)")


class DiscardRequest(BaseModel):
    reason: str = Field(min_length=10, max_length=2000,
                        description="why this event is given up (kept with the person in the audit log)")


class DeadLetterUnreadable(ValueError):
    """The stored message cannot be parsed into an envelope: it can only be discarded."""


class DeadLetterResolved(RuntimeError):
    """Already replayed or discarded."""


def _view(row: sa.Row[Any], *, detail: bool = False) -> DeadLetterRead:
    fields = {k: getattr(row, k) for k in DeadLetterRead.model_fields if k != "event_type"}
    event_type = _event_type(row.raw)
    if detail:
        return DeadLetterDetail(**fields, event_type=event_type, envelope=row.raw)
    return DeadLetterRead(**fields, event_type=event_type)


def _event_type(raw: str) -> str | None:
    try:
        value = json.loads(raw).get("type")
    except (ValueError, AttributeError):
        return None
    return str(value) if value is not None else None


async def list_dead_letters(session: AsyncSession, table: sa.Table, *, status: Status | None, after_id: int,
                            limit: int) -> list[DeadLetterRead]:
    """Dead letters in id order, optionally of one status."""
    q = sa.select(table).where(table.c.id > after_id).order_by(table.c.id).limit(limit)
    if status is not None:
        q = q.where(table.c.status == status)
    return [_view(r) for r in (await session.execute(q)).all()]


async def get_dead_letter(session: AsyncSession, table: sa.Table, dead_id: int, *, lock: bool = False) -> sa.Row[Any]:
    q = sa.select(table).where(table.c.id == dead_id)
    row = (await session.execute(q.with_for_update() if lock else q)).first()
    if row is None:
        raise LookupError(dead_id)
    return row


async def open_count(session: AsyncSession, table: sa.Table) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(table)
                                    .where(table.c.status == "open")) or 0)


async def replay(session: AsyncSession, table: sa.Table, *, dead_id: int, handler: Handler,
                 actor: str, topic_prefix: str) -> DeadLetterRead:
    """Run the dead letter's event through the inbox path and mark it replayed, in the caller's
    transaction (which must commit both or neither)."""
    row = await get_dead_letter(session, table, dead_id, lock=True)
    if row.status != "open":
        raise DeadLetterResolved(row.status)
    record = ConsumerRecord(row.topic, row.partition, row.offset, 0, 0, None, row.raw.encode(), None, 0,
                            len(row.raw), ())
    parsed, bad = parse_records([record], topic_prefix)
    if bad:  # unreadable, forged or of an unknown type: a replay cannot make it acceptable
        raise DeadLetterUnreadable(bad[0][1])
    event: Event[Any] = parsed[0][1]
    # Dead-lettering claimed the event in the inbox (redeliveries skip it); an unreadable message
    # was not claimed, and may have been applied since from a readable copy.
    fresh = [event] if row.claimed else await claim(session, row.consumer, [event])
    if fresh:
        await apply_claimed(session, row.consumer, handler, fresh)
    outcome = "applied" if fresh else "already applied by another delivery: nothing done"
    await _resolve(session, table, dead_id, "replayed", actor, outcome)
    return _view(await get_dead_letter(session, table, dead_id))


async def discard(session: AsyncSession, table: sa.Table, *, dead_id: int, reason: str,
                  actor: str) -> DeadLetterRead:
    row = await get_dead_letter(session, table, dead_id, lock=True)
    if row.status != "open":
        raise DeadLetterResolved(row.status)
    await _resolve(session, table, dead_id, "discarded", actor, reason)
    return _view(await get_dead_letter(session, table, dead_id))


async def record_failed_replay(session: AsyncSession, table: sa.Table, dead_id: int, error: str) -> None:
    await session.execute(sa.update(table).where(table.c.id == dead_id).values(
        attempts=table.c.attempts + 1, error=error[:2000]))


async def _resolve(session: AsyncSession, table: sa.Table, dead_id: int, status: Status, actor: str,
                   resolution: str) -> None:
    await session.execute(sa.update(table).where(table.c.id == dead_id).values(
        status=status, resolved_at=sa.func.now(), resolved_by=actor, resolution=resolution))


# --- the API every service serves -------------------------------------------------------------

IdPath = Path(ge=1, le=MAX_ID, description="the dead letter's id")


def router(runtime: "Runtime") -> APIRouter:
    """Routes over this service's dead letters, for shared/app.py to register."""
    from shared.app import SessionDep

    api = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])
    table = runtime.spec.plumbing.dead_letter

    @api.get("", summary="Dead letters (auditors and the bureau)")
    async def list_(session: SessionDep, _: Any = require_roles("auditor", "bureau"),
                    status: Status | None = None, after_id: int = Query(default=0, ge=0, le=MAX_ID),
                    limit: int = Query(default=100, ge=1, le=1000)) -> list[DeadLetterRead]:
        return await list_dead_letters(session, table, status=status, after_id=after_id, limit=limit)

    @api.get("/{dead_id}", summary="One dead letter with its message (auditors and the bureau)")
    async def show(session: SessionDep, dead_id: int = IdPath,
                   _: Any = require_roles("auditor", "bureau")) -> DeadLetterDetail:
        try:
            view = _view(await get_dead_letter(session, table, dead_id), detail=True)
        except LookupError:
            raise _not_found(dead_id) from None
        assert isinstance(view, DeadLetterDetail)
        return view

    @api.post("/{dead_id}/replay", summary="Apply the event again, exactly once (bureau)",
              responses=problem_responses(409))
    async def replay_(session: SessionDep, dead_id: int = IdPath,
                      who: AuthPrincipal = require_roles("bureau")) -> DeadLetterRead:
        handler = runtime.spec.handler
        if handler is None:
            raise Problem(409, "Nothing to replay", f"{runtime.name} consumes no events")
        add_detail(session, dead_id=dead_id)
        try:
            async with session.begin():
                view = await replay(session, table, dead_id=dead_id, handler=handler, actor=who.client_id,
                                    topic_prefix=runtime.settings.kafka_topic_prefix)
        except (LookupError, DeadLetterResolved, DeadLetterUnreadable) as exc:
            raise _problem(dead_id, exc) from None
        except Exception as exc:  # noqa: BLE001 - the handler failed again: keep the dead letter open
            error = f"{type(exc).__name__}: {exc}"
            add_detail(session, dead_id=dead_id, replay_failed=error[:500])
            async with session.begin():
                await record_failed_replay(session, table, dead_id, error)
            raise Problem(409, "Replay failed", f"dead letter {dead_id} stays open: {error[:500]}") from None
        runtime.wake_relay()
        return view

    @api.post("/{dead_id}/discard", summary="Give the event up, with a reason (bureau; audited)",
              responses=problem_responses(409))
    async def discard_(body: DiscardRequest, session: SessionDep, dead_id: int = IdPath,
                       who: AuthPrincipal = require_roles("bureau")) -> DeadLetterRead:
        add_detail(session, dead_id=dead_id, reason=body.reason)
        try:
            async with session.begin():
                return await discard(session, table, dead_id=dead_id, reason=body.reason, actor=who.client_id)
        except (LookupError, DeadLetterResolved) as exc:
            raise _problem(dead_id, exc) from None

    return api


def _not_found(dead_id: int) -> Problem:
    return Problem(404, "Dead letter not found", f"no dead letter {dead_id}")


def _problem(dead_id: int, exc: Exception) -> Problem:
    if isinstance(exc, LookupError):
        return _not_found(dead_id)
    if isinstance(exc, DeadLetterResolved):
        return Problem(409, "Dead letter already resolved", f"dead letter {dead_id} is {exc.args[0]}")
    return Problem(422, "Dead letter unreadable", f"dead letter {dead_id} cannot be replayed ({exc}); discard it")
