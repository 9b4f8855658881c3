"""The production ACLs on a real Apache Kafka broker (TEST_BROKER=apache): each service principal
authenticates with SCRAM-SHA-512 over SASL and may write only its own topic, read only the topics
it consumes and use only its own consumer group (shared.kafka.service_acls, the same ACLs as the
Strimzi KafkaUsers in deploy/k8s)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from shared.apache_kafka import ApacheKafkaBroker
from shared.kafka import KafkaAccess, consumer_group, make_consumer, make_producer, topics_read


@pytest.fixture
def prefix(apache_broker: ApacheKafkaBroker) -> str:
    tag = f"acl{uuid.uuid4().hex[:8]}."
    apache_broker.provision(tag, partitions=1)
    return tag


async def send(kafka: KafkaAccess, topic: str) -> None:
    producer = make_producer(kafka)
    try:
        await producer.start()
        await producer.send_and_wait(topic, key=b"p1", value=b'{"probe": true}')
    finally:
        await producer.stop()


async def read(kafka: KafkaAccess, topic: str, group: str) -> int:
    consumer = make_consumer(kafka, topic, group_id=group, max_records=10)
    try:
        await consumer.start()
        got = await consumer.getmany(timeout_ms=8000)
        await consumer.commit()
        return sum(len(v) for v in got.values())
    finally:
        await consumer.stop()


async def test_a_service_principal_is_refused_writing_another_services_topic(
        apache_broker: ApacheKafkaBroker, prefix: str) -> None:
    registry = apache_broker.access_for("registry")
    await send(registry, prefix + "registry.events")  # its own topic, idempotent, acks=all
    for topic in ("eligibility.events", "payments.events", "reporting.events"):
        with pytest.raises(TopicAuthorizationFailedError):
            await send(registry, prefix + topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await send(apache_broker.access_for("reporting"), prefix + "payments.events")


async def test_a_service_reads_what_it_consumes_in_its_own_group_and_nothing_else(
        apache_broker: ApacheKafkaBroker, prefix: str) -> None:
    await send(apache_broker.access_for("registry"), prefix + "registry.events")
    eligibility = apache_broker.access_for("eligibility")
    assert await read(eligibility, prefix + "registry.events", consumer_group("eligibility", prefix)) == 1
    assert "reporting.events" not in topics_read("eligibility")  # nobody's but the registry's checkpoints
    with pytest.raises(TopicAuthorizationFailedError):
        await read(eligibility, prefix + "reporting.events", consumer_group("eligibility", prefix))
    with pytest.raises(GroupAuthorizationFailedError):  # reading its topic as another service's group
        await read(apache_broker.access_for("reporting"), prefix + "registry.events",
                   consumer_group("eligibility", prefix))


async def test_a_wrong_password_is_refused(apache_broker: ApacheKafkaBroker, prefix: str) -> None:
    impostor = replace(apache_broker.access_for("payments"), password="not-the-password")
    with pytest.raises(KafkaError):  # the broker closes the connection on a failed SCRAM exchange
        await send(impostor, prefix + "payments.events")
