"""Kafka clients and topics. Works with Apache Kafka and with the embedded Tansu broker.

Never set `enable_idempotence`: the embedded broker refuses idempotent producers, and exactly-once
effects come from the outbox and the inbox, not from Kafka transactions.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.events import TOPICS

MARKER_TOPIC = "skillsub.markers"
log = logging.getLogger("skillsub.kafka")


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


def make_consumer(bootstrap: str, *topics: str, group_id: str | None, max_records: int) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
        max_poll_records=max_records,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )


async def ensure_topics(bootstrap: str, partitions: int, replication: int, prefix: str = "") -> list[str]:
    """Create the event topics and the marker topic if missing; return the ones created.
    `prefix` namespaces every topic and group (KAFKA_TOPIC_PREFIX), e.g. one per test run."""
    wanted = [NewTopic(prefix + t, partitions, replication) for t in TOPICS]
    wanted.append(NewTopic(prefix + MARKER_TOPIC, 1, replication))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                resp = await admin.create_topics(missing)
                created = [name for name, code, *_ in resp.topic_errors if code == 0]
            except TopicAlreadyExistsError:
                pass  # another service created them at the same moment
    finally:
        await admin.close()
    return created


async def broker_reachable(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
