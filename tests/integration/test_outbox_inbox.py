"""The outbox relay and the inbox consumer against a real PostgreSQL and a real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shared import audit
from shared.app import Plumbing
from shared.db import drop_database, ensure_database, make_engine, make_sessionmaker
from shared.events import Envelope, Event, PersonFactRecordedV1, new_envelope
from shared.inbox import InboxConsumer
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay, add_events

metadata = sa.MetaData()
plumbing = Plumbing.on(metadata)
applied = sa.Table("applied", metadata, sa.Column("event_id", sa.Uuid, nullable=False),
                   sa.Column("kind", sa.Text, nullable=False))


@pytest.fixture
async def world(settings) -> AsyncIterator[dict[str, object]]:
    url = settings.migration_url_for("registry")  # the owner role creates the tables here
    await ensure_database(url)
    engine = make_engine(url, pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.run_sync(audit.metadata.create_all)
    bootstrap, prefix = settings.kafka_bootstrap_servers, settings.kafka_topic_prefix
    await ensure_topics(bootstrap, 2, 1, prefix)
    producer = make_producer(bootstrap)
    await producer.start()
    maker = make_sessionmaker(engine, audit_key=audit.audit_key(settings.skillsub_audit_key, "registry"))
    relay = OutboxRelay(producer_name="registry", maker=maker, outbox=plumbing.outbox, marker=plumbing.marker,
                        bootstrap=bootstrap, partitions=2, replication=1, poll_seconds=0.05,
                        retention_hours=1, prefix=prefix)
    relay._producer = producer  # noqa: SLF001 - drive the relay step by step
    try:
        yield {"maker": maker, "relay": relay, "bootstrap": bootstrap, "prefix": prefix}
    finally:
        await producer.stop()
        await engine.dispose()
        await drop_database(url)


def fact(kind: str) -> Envelope:
    payload = PersonFactRecordedV1(fact_id=uuid.uuid4(), person_key="p1", kind=kind, valid_from=date(2020, 1, 1),
                                   source="test")
    return new_envelope(payload, key="p1", producer="registry")


async def stage(maker, envelopes: Sequence[Envelope]) -> None:  # type: ignore[no-untyped-def]
    async with maker() as session, session.begin():
        await add_events(session, plumbing.outbox, envelopes)


async def fetch_all(bootstrap: str, topic: str, expected: int) -> list:  # type: ignore[type-arg]
    consumer = make_consumer(bootstrap, topic, group_id=f"g-{uuid.uuid4().hex[:6]}", max_records=1000)
    await consumer.start()
    records: list = []  # type: ignore[type-arg]
    try:
        for _ in range(100):
            got = await consumer.getmany(timeout_ms=200)
            records += [r for rs in got.values() for r in rs]
            if len(records) >= expected:
                break
    finally:
        await consumer.stop()
    return records


async def test_relay_publishes_staged_events_once_and_marks_them_sent(world) -> None:
    maker, relay = world["maker"], world["relay"]
    events = [fact("employment") for _ in range(5)]
    await stage(maker, events)
    await stage(maker, events[:2])  # staging the same event again is a no-op
    await relay.check_broker_marker()
    assert await relay.publish_batch() == 5
    assert await relay.publish_batch() == 0
    assert await relay.backlog() == 0
    records = await fetch_all(world["bootstrap"], world["prefix"] + "registry.events", 5)
    assert sorted(Envelope.model_validate_json(r.value).event_id for r in records) == sorted(e.event_id for e in events)


async def test_a_broker_that_lost_the_marker_gets_every_retained_event_again(world) -> None:
    maker, relay = world["maker"], world["relay"]
    await stage(maker, [fact("employment") for _ in range(3)])
    await relay.check_broker_marker()
    await relay.publish_batch()
    async with maker() as session, session.begin():  # as if the broker restarted: its marker is gone
        await session.execute(sa.update(plumbing.marker).values(marker=uuid.uuid4()))
    await relay.check_broker_marker()
    assert relay.stats.republished_after_broker_loss == 3
    assert await relay.publish_batch() == 3
    await relay.check_broker_marker()  # the fresh marker is found: nothing more to republish
    assert relay.stats.republished_after_broker_loss == 3


async def test_inbox_applies_each_event_once_and_dead_letters_a_poison_event(world, settings) -> None:
    maker, relay = world["maker"], world["relay"]
    good = [fact("employment") for _ in range(4)]
    poison = fact("poison")
    await stage(maker, [*good[:2], poison, *good[2:]])
    await relay.check_broker_marker()
    await relay.publish_batch()
    records = await fetch_all(world["bootstrap"], world["prefix"] + "registry.events", 5)

    async def handler(session: AsyncSession, events: Sequence[Event[PersonFactRecordedV1]]) -> None:
        if any(e.payload.kind == "poison" for e in events):
            raise ValueError("cannot apply a poison fact")
        await session.execute(sa.insert(applied).values([{"event_id": e.event_id, "kind": e.payload.kind}
                                                         for e in events]))

    metrics = ServiceMetrics("test")
    consumer = InboxConsumer(name="test", consumer=None, maker=maker, inbox=plumbing.inbox,  # type: ignore[arg-type]
                             dead_letter=plumbing.dead_letter, handler=handler, metrics=metrics, batch=100,
                             max_retries=1, topic_prefix=world["prefix"])
    await consumer.process(records)
    await consumer.process(records)  # a redelivery after a crash before the offset commit
    async with maker() as session:
        kinds = (await session.execute(sa.select(applied.c.kind))).scalars().all()
        dead = (await session.execute(sa.select(plumbing.dead_letter.c.event_id,
                                                plumbing.dead_letter.c.error))).all()
    assert sorted(kinds) == ["employment"] * 4
    assert [d.event_id for d in dead] == [poison.event_id] and "poison" in dead[0].error
    assert metrics.dead_letters._value.get() == 1  # noqa: SLF001
    assert metrics.events_duplicate._value.get() >= 4  # noqa: SLF001


async def test_unreadable_messages_are_dead_lettered_not_dropped(world) -> None:
    producer = make_producer(world["bootstrap"])
    await producer.start()
    topic = world["prefix"] + "registry.events"
    await producer.send_and_wait(topic, key=b"x", value=b"{not json")
    await producer.stop()
    records = await fetch_all(world["bootstrap"], topic, 1)

    async def never(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        raise AssertionError("no valid event to apply")

    consumer = InboxConsumer(name="test", consumer=None, maker=world["maker"], inbox=plumbing.inbox,  # type: ignore[arg-type]
                             dead_letter=plumbing.dead_letter, handler=never, metrics=ServiceMetrics("t"),
                             batch=10, max_retries=0, topic_prefix=world["prefix"])
    await consumer.process(records)
    async with world["maker"]() as session:
        errors = (await session.execute(sa.select(plumbing.dead_letter.c.error))).scalars().all()
    assert errors == ["unreadable envelope: ValidationError"]
    await asyncio.sleep(0)


def _raw(event_type: str, version: int, producer: str, payload: dict[str, Any]) -> bytes:
    env = {"event_id": str(uuid.uuid4()), "type": event_type, "version": version,
           "occurred_at": "2020-05-20T02:00:00Z", "producer": producer, "key": "k" * 64, "payload": payload}
    return Envelope.model_validate(env).model_dump_json().encode()


async def test_forged_unknown_and_malformed_events_are_dead_lettered_with_the_reason(world) -> None:
    """Only the registry may publish registry.* and only on its topic; an unknown (type, version)
    or a payload that does not fit its model never reaches a handler."""
    good = fact("employment")
    payload = good.payload
    decided = {"decision_id": str(uuid.uuid4()), "person_key": "k" * 64, "trigger_id": str(uuid.uuid4()),
               "trigger_kind": "certificate", "clause": "四.4", "outcome": "approved", "amount_fen": 99_900_000,
               "clauses_cited": ["四.4"], "decided_on": "2020-05-20", "year": 2020}
    forged = {
        "forged producer": _raw("registry.person.fact_recorded", 1, "reporting", payload),
        "wrong topic": _raw("eligibility.subsidy.decided", 1, "eligibility", decided),
        "unknown version": _raw("registry.person.fact_recorded", 7, "registry", payload),
        "unknown type": _raw("registry.person.teleported", 1, "registry", payload),
        "malformed payload": _raw("registry.person.fact_recorded", 1, "registry", {**payload, "valid_from": "May"}),
    }
    producer = make_producer(world["bootstrap"])
    await producer.start()
    topic = world["prefix"] + "registry.events"
    for value in [*forged.values(), good.model_dump_json().encode()]:
        await producer.send_and_wait(topic, key=b"k", value=value)
    await producer.stop()
    records = await fetch_all(world["bootstrap"], topic, len(forged) + 1)
    seen: list[Event[Any]] = []

    async def handler(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        seen.extend(events)

    consumer = InboxConsumer(name="test", consumer=None, maker=world["maker"], inbox=plumbing.inbox,  # type: ignore[arg-type]
                             dead_letter=plumbing.dead_letter, handler=handler, metrics=ServiceMetrics("t"),
                             batch=10, max_retries=0, topic_prefix=world["prefix"])
    await consumer.process(records)
    async with world["maker"]() as session:
        errors = (await session.execute(sa.select(plumbing.dead_letter.c.error)
                                        .order_by(plumbing.dead_letter.c.offset))).scalars().all()
    assert [type(e.payload) for e in seen] == [PersonFactRecordedV1]
    assert seen[0].payload.valid_from == good.parsed().valid_from  # typed: a date, not a string
    assert len(errors) == len(forged)
    assert "producer 'reporting' may not publish registry.person.fact_recorded" in errors[0]
    assert "travels only on" in errors[1] and "eligibility.events" in errors[1]
    assert errors[2] == "unknown event type 'registry.person.fact_recorded' version 7"
    assert errors[3] == "unknown event type 'registry.person.teleported' version 1"
    assert errors[4].startswith("invalid payload for registry.person.fact_recorded v1: valid_from:")
