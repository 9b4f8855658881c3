"""Deduplicating inbox consumer: exactly-once effects over at-least-once delivery.

Each record is parsed once: the envelope, then its payload into the model registered for its
(type, version); and it must come from its topic's owning producer (`registry.*` only from the
registry, on the registry's topic). A record that fails any of these becomes a dead letter that
names why, so handlers receive only typed `Event`s. One DB transaction per fetched batch: record
`(consumer, event_id)` in the inbox (unique), skip what was already there, apply the rest through
the service's batch handler, commit; only then commit the Kafka offsets. A crash anywhere replays
the batch and the inbox absorbs it. A failing batch is retried a bounded number of times, then
split event by event; an event that still fails is stored as a dead letter (with its error) and
counted, never swallowed silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.audit import AuditEntry, append
from shared.events import Envelope, Event, Payload, UnknownEvent, producer_of, topic_for
from shared.faults import maybe_crash
from shared.metrics import ServiceMetrics

log = logging.getLogger("skillsub.inbox")
Handler = Callable[[AsyncSession, Sequence[Event[Any]]], Awaitable[None]]
H = TypeVar("H", bound=Callable[..., Any])


def inbox_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    inbox = sa.Table(
        "inbox", metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    dead = sa.Table(
        "dead_letter", metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("event_id", UUID(as_uuid=True)),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        # shared/deadletters.py: did dead-lettering claim the event in the inbox; open, replayed or
        # discarded; by whom, when, and the outcome or the reason.
        sa.Column("claimed", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("status", sa.Text, server_default="open", nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolution", sa.Text),
    )
    return inbox, dead


# One statement text for any batch size (an array through unnest): prepared once, not per size.
_CLAIM = sa.text("INSERT INTO inbox (consumer, event_id) SELECT :consumer, unnest(CAST(:ids AS uuid[])) "
                 "ON CONFLICT DO NOTHING RETURNING event_id")


class InboxConsumer:
    """Consumes topics for one service and applies each event once."""

    def __init__(self, *, name: str, consumer: AIOKafkaConsumer, maker: async_sessionmaker[AsyncSession],
                 inbox: sa.Table, dead_letter: sa.Table, handler: Handler, metrics: ServiceMetrics,
                 batch: int, max_retries: int, topic_prefix: str) -> None:
        self.name, self.consumer, self.maker, self.handler = name, consumer, maker, handler
        self.inbox, self.dead_letter, self.metrics = inbox, dead_letter, metrics
        self.batch, self.max_retries, self.topic_prefix = batch, max_retries, topic_prefix
        self.applied = 0

    async def run(self) -> None:
        while True:
            try:
                fetched = await self.consumer.getmany(timeout_ms=500, max_records=self.batch)
            except KafkaError as exc:
                log.warning("consumer %s: fetch failed (%s); retrying", self.name, type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            records = [r for rs in fetched.values() for r in rs]
            if records:
                maybe_crash("consumer.after_fetch")
                await self.process(records)
                maybe_crash("consumer.after_db_commit")
                await self._commit_offsets()
            await self._record_lag()

    async def _commit_offsets(self) -> None:
        try:
            await self.consumer.commit()
        except KafkaError as exc:  # a rebalance: the next owner replays, the inbox absorbs it
            log.warning("consumer %s: offset commit failed (%s)", self.name, type(exc).__name__)

    async def _record_lag(self) -> None:
        """Broker-reported lag. On the embedded broker the high watermark can under-report: decide
        "caught up" from inbox counts, never from this gauge alone."""
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is None:
                continue
            try:
                position = await self.consumer.position(tp)
            except KafkaError:
                continue
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        """Apply a fetched batch exactly once in effect (bounded retries, then event by event)."""
        parsed, bad = _parse(records, self.topic_prefix)
        if bad:
            await self._dead_letters([(r, err, 1) for r, err in bad])
        if not parsed:
            return
        if await self._attempt(parsed) is not None:
            await self._isolate(parsed)

    async def _attempt(self, parsed: Sequence[tuple[ConsumerRecord, Event[Any]]]) -> str | None:
        """Apply with bounded retries; return the last error, or None once applied. An unreachable
        database is waited out and never counted against the events: a PostgreSQL restart must
        not turn good events into dead letters (the chaos test did exactly that before)."""
        attempt = 0
        while True:
            try:
                await self._apply(parsed)
                return None
            except Exception as exc:  # noqa: BLE001 - retried, then isolated and dead-lettered
                if _database_unavailable(exc):
                    log.warning("consumer %s: database unavailable (%s); waiting", self.name, type(exc).__name__)
                    await asyncio.sleep(1.0)
                    continue
                log.warning("consumer %s: batch of %d failed (attempt %d): %s",
                            self.name, len(parsed), attempt + 1, type(exc).__name__)
                if attempt >= self.max_retries:
                    return f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(min(0.05 * 2 ** attempt, 2.0))
                attempt += 1

    async def _apply(self, parsed: Sequence[tuple[ConsumerRecord, Event[Any]]]) -> None:
        async with self.maker() as session, session.begin():
            fresh = await self._claim(session, [ev for _, ev in parsed])
            if fresh:
                await apply_claimed(session, self.name, self.handler, fresh)
            maybe_crash("consumer.before_db_commit")
        self.applied += len(fresh)
        self.metrics.events_consumed.inc(len(fresh))
        self.metrics.events_duplicate.inc(len(parsed) - len(fresh))

    async def _claim(self, session: AsyncSession, events: Sequence[Event[Any]]) -> list[Event[Any]]:
        assert self.inbox.name == "inbox"
        return await claim(session, self.name, events)

    async def _isolate(self, parsed: Sequence[tuple[ConsumerRecord, Event[Any]]]) -> None:
        failures = []
        for record, env in parsed:
            error = await self._attempt([(record, env)])
            if error is not None:
                failures.append((record, error, self.max_retries + 1))
        await self._dead_letters(failures, claim=True)

    async def _dead_letters(self, failures: Sequence[tuple[ConsumerRecord, str, int]], claim: bool = False) -> None:
        if not failures:
            return
        async with self.maker() as session, session.begin():
            rows = [{"consumer": self.name, "event_id": _event_id(r), "topic": r.topic,
                     "partition": r.partition, "offset": r.offset,
                     "raw": (r.value or b"").decode("utf-8", "replace"), "error": err[:2000],
                     "attempts": attempts, "claimed": claim and _event_id(r) is not None}
                    for r, err, attempts in failures]
            await session.execute(sa.insert(self.dead_letter).values(rows))
            ids = [{"consumer": self.name, "event_id": row["event_id"]} for row in rows if row["event_id"]]
            if claim and ids:
                await session.execute(insert(self.inbox).values(ids).on_conflict_do_nothing())
        self.metrics.dead_letters.inc(len(failures))
        log.error("consumer %s: %d event(s) dead-lettered", self.name, len(failures))


async def claim(session: AsyncSession, consumer: str, events: Sequence[Event[Any]]) -> list[Event[Any]]:
    """Record the events' ids in the inbox; return the events not seen before, in delivery order."""
    unique: dict[object, Event[Any]] = {}
    for ev in events:
        unique.setdefault(ev.event_id, ev)
    claimed = set((await session.execute(_CLAIM, {"consumer": consumer, "ids": list(unique)})).scalars())
    return [ev for eid, ev in unique.items() if eid in claimed]


async def apply_claimed(session: AsyncSession, consumer: str, handler: Handler, events: Sequence[Event[Any]]) -> None:
    """Apply events claimed in the inbox, in the caller's transaction: the handler and the batch's
    audit entry. A batch takes this path, and so does the replay of a dead letter."""
    await handler(session, events)
    await append(session, [_batch_audit(consumer, events)])


def parse_records(records: Sequence[ConsumerRecord], topic_prefix: str
                  ) -> tuple[list[tuple[ConsumerRecord, Event[Any]]], list[tuple[ConsumerRecord, str]]]:
    """Typed events as the consumer parses them (producer and topic checked too), and the records
    it refuses (with the reason)."""
    return _parse(records, topic_prefix)


def _database_unavailable(exc: BaseException) -> bool:
    """The connection or the server failed (down, restarting, recovering), not the statement."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy wraps the driver's error: look down the chain
        if seen is None:
            return False
        if isinstance(seen, OSError | asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
                      | asyncpg.AdminShutdownError | asyncpg.CrashShutdownError | sa.exc.InterfaceError):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _parse(records: Sequence[ConsumerRecord], prefix: str
           ) -> tuple[list[tuple[ConsumerRecord, Event[Any]]], list[tuple[ConsumerRecord, str]]]:
    good: list[tuple[ConsumerRecord, Event[Any]]] = []
    bad: list[tuple[ConsumerRecord, str]] = []
    for r in records:
        try:
            env = Envelope.model_validate_json(r.value or b"")
        except (ValidationError, ValueError) as exc:
            bad.append((r, f"unreadable envelope: {exc.__class__.__name__}"))
            continue
        refused = _refused_producer(env, r.topic, prefix)
        if refused:
            bad.append((r, refused))
            continue
        try:
            good.append((r, env.typed()))
        except UnknownEvent as exc:
            bad.append((r, str(exc)))
        except ValidationError as exc:
            bad.append((r, f"invalid payload for {env.type} v{env.version}: {_summary(exc)}"))
    return good, bad


def _refused_producer(env: Envelope, topic: str, prefix: str) -> str | None:
    """Only a topic's owning service may publish on it, and only its own event types."""
    owner, expected = producer_of(env.type), prefix + topic_for(env.type)
    if env.producer != owner:
        return f"producer {env.producer!r} may not publish {env.type} (owned by {owner!r})"
    if topic != expected:
        return f"{env.type} arrived on topic {topic!r}; it travels only on {expected!r}"
    return None


def _summary(exc: ValidationError) -> str:
    """Field paths and messages only: a payload's values may be personal data (never logged)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<payload>'}: {e['msg']}" for e in exc.errors()[:5])


def route(table: Mapping[type[Payload], H], events: Sequence[Event[Any]]) -> list[tuple[H, list[Event[Any]]]]:
    """Group a batch by handler: handlers in the table's order, each with its events in delivery
    order. A class the table does not name is not this service's concern and is skipped (the
    inbox has already dead-lettered unknown types)."""
    groups: dict[H, list[Event[Any]]] = {h: [] for h in table.values()}
    for ev in events:
        handler = table.get(type(ev.payload))
        if handler is not None:
            groups[handler].append(ev)
    return [(h, evs) for h, evs in groups.items() if evs]


def _event_id(record: ConsumerRecord) -> object:
    try:
        return json.loads(record.value or b"{}").get("event_id")
    except (ValueError, AttributeError):
        return None


def _batch_audit(consumer: str, applied: Sequence[Event[Any]]) -> AuditEntry:
    """One audit entry per applied batch: which events changed this service's state."""
    types: dict[str, int] = {}
    for ev in applied:
        types[ev.envelope.type] = types.get(ev.envelope.type, 0) + 1
    return AuditEntry(actor=f"system:{consumer}-consumer", role="system", action="apply events",
                      resource=f"{len(applied)} events", outcome="applied", request_id=str(applied[0].event_id),
                      detail={"types": types, "first": str(applied[0].event_id), "last": str(applied[-1].event_id)})
