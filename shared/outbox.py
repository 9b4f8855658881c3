"""Transactional outbox: state changes and their events commit together; a relay publishes.

Writers call `add_events(session, envelopes)` inside their own transaction. The relay publishes
unsent rows in id order (one relay at a time per service, by advisory lock), marks them sent and
keeps them for `outbox_retention_hours`.

On a durable broker (Apache Kafka) that is all: what the broker acknowledged survives its restarts.
The embedded broker keeps messages in memory only, so there the relay leaves a marker message on
the broker and checks that it is still there; only positive proof that the broker lost it (the
marker topic is gone, another record sits at the marker's offset, or the log no longer reaches that
offset) makes it publish every retained row again, and the consumers' inboxes absorb the repeats.
A marker that aged out of the topic's retention is replaced without republishing, the marker is
rewritten every `marker_refresh_seconds` so it never gets that old, and a read that failed or timed
out proves nothing: the check is tried again later.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import Envelope, StagedEvent, staged
from shared.faults import maybe_crash
from shared.kafka import MARKER_TOPIC, KafkaAccess, access, ensure_topics

log = logging.getLogger("skillsub.outbox")


def outbox_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    outbox = sa.Table(
        "outbox", metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("envelope", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Index("outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")),
    )
    marker = sa.Table(
        "outbox_marker", metadata,
        sa.Column("producer", sa.Text, primary_key=True),
        sa.Column("marker", UUID(as_uuid=True), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    return outbox, marker


# One statement text whatever the row count (arrays through unnest), so PostgreSQL and asyncpg
# prepare it once instead of once per batch size.
_STAGE = sa.text(
    "INSERT INTO outbox (event_id, topic, key, envelope) "
    "SELECT e, t, k, v::jsonb FROM unnest(CAST(:ids AS uuid[]), CAST(:topics AS text[]), "
    "CAST(:keys AS text[]), CAST(:envelopes AS text[])) AS u(e, t, k, v) "
    "ON CONFLICT (event_id) DO NOTHING")


# From this many events on, COPY first (about 2.5x cheaper in the database than the unnest
# INSERT, measured at 5,000 rows: 20 vs 50 us a row); a batch holding an event already staged
# fails the COPY in its savepoint and takes the ON CONFLICT statement instead.
COPY_FROM = 500
_COLUMNS = ["event_id", "topic", "key", "envelope"]


async def add_events(session: AsyncSession, outbox: sa.Table, envelopes: Sequence[Envelope]) -> None:
    """Stage events in the caller's transaction; an event already staged (same id) is skipped."""
    await add_staged(session, outbox, staged(envelopes))


async def add_staged(session: AsyncSession, outbox: sa.Table, rows: Sequence[StagedEvent]) -> None:
    """`add_events` for envelopes already turned into outbox rows by `shared.events.staged` (a bulk
    import builds them in its worker process)."""
    if not rows:
        return
    assert outbox.name == "outbox"
    if len(rows) >= COPY_FROM and len({r[0] for r in rows}) == len(rows) and await _copied(session, rows):
        return
    ids, topics, keys, texts = map(list, zip(*rows, strict=True))
    await session.execute(_STAGE, {"ids": ids, "topics": topics, "keys": keys, "envelopes": texts})


async def _copied(session: AsyncSession, rows: Sequence[StagedEvent]) -> bool:
    conn = await session.connection()
    raw: Any = (await conn.get_raw_connection()).driver_connection
    if not isinstance(raw, asyncpg.Connection):
        return False
    if not raw.is_in_transaction():
        await session.execute(sa.text("SELECT 1"))  # SQLAlchemy begins lazily, on a first statement
    if not raw.is_in_transaction():
        return False  # never COPY outside the caller's transaction
    try:
        async with raw.transaction():  # a savepoint inside the session's transaction
            await raw.copy_records_to_table("outbox", records=rows, columns=_COLUMNS)
    except asyncpg.UniqueViolationError:
        return False
    return True


@dataclass
class RelayStats:
    published: int = 0
    republished_after_broker_loss: int = 0
    backlog: int = 0
    marker_checks_inconclusive: int = 0


Verdict = Literal["present", "aged_out", "lost", "unknown"]


@dataclass(frozen=True)
class MarkerReading:
    """What the broker said about the marker topic; None where it did not answer."""

    topic_exists: bool | None
    record: bytes | None = None  # the value at the marker's offset, if the broker returned one
    start_offset: int | None = None
    end_offset: int | None = None


def marker_verdict(expected: bytes, offset: int, reading: MarkerReading) -> Verdict:
    """Lost only on positive proof; a marker below the log start aged out; anything else is unknown."""
    if reading.topic_exists is False:
        return "lost"  # the broker answered, and it has no marker topic: it started empty
    if reading.record is not None:
        return "present" if reading.record == expected else "lost"
    if reading.end_offset is not None and reading.end_offset <= offset:
        return "lost"  # the log ends before the marker: it was recreated
    if reading.start_offset is not None and reading.start_offset > offset:
        return "aged_out"  # retention removed it; the log itself is intact
    return "unknown"


class OutboxRelay:
    """Publishes the service's outbox. `wake()` after a commit shortens the wait to zero."""

    def __init__(self, *, producer_name: str, maker: async_sessionmaker[AsyncSession],
                 outbox: sa.Table, marker: sa.Table, bootstrap: str | KafkaAccess, partitions: int,
                 replication: int, poll_seconds: float, retention_hours: int,
                 batch: int = 5000, marker_check_seconds: float = 5.0, marker_refresh_seconds: float = 3600.0,
                 prefix: str = "") -> None:
        self.name, self.maker, self.outbox, self.marker = producer_name, maker, outbox, marker
        self.kafka: KafkaAccess = access(bootstrap)
        self.partitions, self.replication = partitions, replication
        self.poll_seconds, self.retention_hours, self.batch = poll_seconds, retention_hours, batch
        self.marker_check_seconds, self.marker_refresh_seconds = marker_check_seconds, marker_refresh_seconds
        self.prefix = prefix
        self.marker_topic = prefix + MARKER_TOPIC
        self.stats = RelayStats()
        self._wake = asyncio.Event()
        self._lock_key = zlib.crc32(f"outbox:{producer_name}".encode())
        self._producer: AIOKafkaProducer | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        loop = asyncio.get_running_loop()
        next_marker_check = 0.0
        next_prune = loop.time() + 60
        while True:
            try:
                if not self.kafka.durable and loop.time() >= next_marker_check:
                    await self.check_broker_marker()
                    next_marker_check = loop.time() + self.marker_check_seconds
                sent = await self.publish_batch()
                if loop.time() >= next_prune:
                    await self.prune()
                    next_prune = loop.time() + 60
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("outbox relay: broker unavailable (%s); retrying", type(exc).__name__)
                sent = 0
                next_marker_check = 0.0
                await asyncio.sleep(1.0)
            if sent < self.batch:
                await self._wait()

    async def _wait(self) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
        # arrives in the same loop tick as a wake(), and the relay then outlives its service.
        try:
            async with asyncio.timeout(self.poll_seconds):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish up to `batch` unsent rows in id order; mark them sent in the same transaction.
        Its statements go straight to the session's asyncpg connection (the try-lock, the read, the
        update: no SQLAlchemy per statement; it runs once per woken commit, so per request)."""
        assert self._producer is not None
        async with self.maker() as session:
            conn = await session.connection()
            raw: Any = (await conn.get_raw_connection()).driver_connection
            async with raw.transaction():
                if not await raw.fetchval("SELECT pg_try_advisory_xact_lock($1)", self._lock_key):
                    return 0
                rows = await raw.fetch(self._unsent_sql, self.batch)
                if not rows:
                    self.stats.backlog = 0
                    return 0
                futures = []
                for i, r in enumerate(rows, start=1):
                    futures.append(await self._producer.send(self.prefix + r["topic"], key=r["key"].encode(),
                                                             value=r["envelope"].encode()))
                    if i % 100 == 0:
                        # send() returns at once while the batch has room: without this, 5,000 sends
                        # held the event loop for 0.2-0.4 s (requests, /readyz waited behind them).
                        await asyncio.sleep(0)
                await asyncio.gather(*futures)
                maybe_crash("relay.after_publish")
                await raw.execute(f"UPDATE {self.outbox.name} SET sent_at = now() WHERE id = ANY($1::bigint[])",
                                  [r["id"] for r in rows])
        self.stats.published += len(rows)
        return len(rows)

    @property
    def _unsent_sql(self) -> str:
        return (f"SELECT id, topic, key, envelope::text AS envelope FROM {self.outbox.name} "
                "WHERE sent_at IS NULL ORDER BY id LIMIT $1")

    async def backlog(self) -> int:
        async with self.maker() as session:
            n = await session.scalar(sa.select(sa.func.count()).select_from(self.outbox)
                                     .where(self.outbox.c.sent_at.is_(None)))
        self.stats.backlog = int(n or 0)
        return self.stats.backlog

    async def prune(self) -> None:
        async with self.maker() as session, session.begin():
            await session.execute(sa.delete(self.outbox).where(
                self.outbox.c.sent_at < sa.func.now() - sa.text(f"interval '{int(self.retention_hours)} hours'")))

    async def check_broker_marker(self) -> Verdict:
        """Republish every retained row if the broker provably lost this relay's marker; replace
        a marker that aged out or is due for refresh; on an inconclusive read change nothing."""
        async with self.maker() as session:
            row = (await session.execute(
                sa.select(self.marker, (sa.func.now() - self.marker.c.recorded_at).label("age"))
                .where(self.marker.c.producer == self.name))).first()
        if row is None:
            verdict: Verdict = "lost"  # first start: nothing to republish, just leave a marker
        else:
            verdict = marker_verdict(row.marker.bytes, row.offset, await self._read_marker(row.partition, row.offset))
        if verdict == "unknown":
            self.stats.marker_checks_inconclusive += 1
            log.warning("outbox relay: the broker's marker could not be read; checking again later")
            return verdict
        if verdict == "present" and row is not None and row.age.total_seconds() < self.marker_refresh_seconds:
            return verdict
        if verdict == "lost":
            await ensure_topics(self.kafka, self.partitions, self.replication, self.prefix)
        async with self.maker() as session, session.begin():
            if verdict == "lost" and row is not None:
                result = await session.execute(
                    sa.update(self.outbox).where(self.outbox.c.sent_at.is_not(None)).values(sent_at=None))
                count = int(getattr(result, "rowcount", 0) or 0)
                self.stats.republished_after_broker_loss += count
                log.warning("broker lost this relay's marker: republishing %s retained events", count)
            await self._write_marker(session)
        return verdict

    async def _write_marker(self, session: AsyncSession) -> None:
        assert self._producer is not None
        marker = uuid.uuid4()
        meta = await (await self._producer.send(self.marker_topic, key=self.name.encode(), value=marker.bytes))
        stmt = insert(self.marker).values(producer=self.name, marker=marker, partition=meta.partition,
                                          offset=meta.offset)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["producer"],
            set_={"marker": marker, "partition": meta.partition, "offset": meta.offset,
                  "recorded_at": sa.func.now()}))

    async def _read_marker(self, partition: int, offset: int) -> MarkerReading:
        """Ask the broker for the marker topic, its offsets and the record at `offset`. Any
        failure or timeout gives what was learned so far (None for the rest): never a proof."""
        consumer = AIOKafkaConsumer(**self.kafka.options(), group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="none", request_timeout_ms=5000)
        tp = TopicPartition(self.marker_topic, partition)
        try:
            async with asyncio.timeout(15):
                await consumer.start()
                if self.marker_topic not in await consumer.topics():
                    return MarkerReading(topic_exists=False)
                consumer.assign([tp])
                start = (await consumer.beginning_offsets([tp]))[tp]
                end = (await consumer.end_offsets([tp]))[tp]
                return MarkerReading(True, await self._record_at(consumer, tp, offset), start, end)
        except (KafkaError, OSError, TimeoutError, AssertionError) as exc:
            log.warning("outbox relay: marker read failed (%s)", type(exc).__name__)
            return MarkerReading(topic_exists=None)
        finally:
            await consumer.stop()

    @staticmethod
    async def _record_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bytes | None:
        """The value at `offset`, fetched (fetching is exact; the embedded broker's end offsets can
        under-report). None when the fetch returns nothing or the offset is out of range."""
        consumer.seek(tp, offset)
        try:
            batch = await consumer.getmany(tp, timeout_ms=3000, max_records=1)
        except OffsetOutOfRangeError:
            return None
        records = batch.get(tp, [])
        return records[0].value if records and records[0].offset == offset else None
