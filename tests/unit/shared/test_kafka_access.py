"""Broker plumbing without a broker: which features each broker kind gets, the ACLs of each service
principal, the settings that production refuses, and when the relay's marker check says "lost"."""

from __future__ import annotations

import ssl
import uuid

import pytest
from pydantic import ValidationError

from shared.kafka import (
    CHECKPOINTS_FROM,
    CONSUMES,
    KafkaAccess,
    consumer_group,
    group_instance_id,
    make_consumer,
    make_producer,
    service_acls,
    service_topics,
)
from shared.outbox import MarkerReading, marker_verdict
from shared.settings import SERVICES, Settings

PROD = {"skillsub_env": "production", "skillsub_registry_url": "http://registry:8001",
        "skillsub_pii_key": "cHJvZHVjdGlvbi1waWkta2V5LTMyLWJ5dGVzLWxvbmchIQ==",
        "skillsub_audit_key": "cHJvZHVjdGlvbi1hdWRpdC1rZXktMzItYnl0ZXMtb2s=",
        "database_url": "postgresql://x/y", "kafka_bootstrap_servers": "kafka-0:9092"}


async def test_producers_are_idempotent_with_acks_all_on_apache_kafka_only() -> None:
    apache = make_producer(KafkaAccess("127.0.0.1:9", kind="apache"))
    tansu = make_producer(KafkaAccess("127.0.0.1:9", kind="tansu"))
    assert apache._txn_manager is not None  # noqa: SLF001 - aiokafka's idempotence state
    assert tansu._txn_manager is None  # noqa: SLF001 - the embedded broker refuses InitProducerId
    assert apache._sender._acks == tansu._sender._acks == -1  # noqa: SLF001 - acks=all on both


async def test_consumers_use_static_membership_on_apache_kafka_named_after_service_and_host() -> None:
    apache = Settings(kafka_broker_kind="apache", kafka_bootstrap_servers="k:9092")
    tansu = Settings(kafka_broker_kind="tansu", kafka_bootstrap_servers="k:9092")
    member = group_instance_id(apache, "eligibility")
    assert member is not None and member.startswith("eligibility-")
    assert group_instance_id(tansu, "eligibility") is None
    pinned = Settings(kafka_broker_kind="tansu", kafka_group_instance_id="eligibility-0")
    assert group_instance_id(pinned, "eligibility") == "eligibility-0"
    consumer = make_consumer("k:9092", "registry.events", group_id="g", max_records=10, group_instance_id=member)
    assert consumer._group_instance_id == member  # noqa: SLF001


def test_sasl_settings_reach_every_client_and_need_both_credentials() -> None:
    s = Settings(kafka_bootstrap_servers="k:9093", kafka_security_protocol="SASL_SSL",
                 kafka_sasl_username="skillsub-payments", kafka_sasl_password="pw")
    options = KafkaAccess.from_settings(s).options()
    tls = options.pop("ssl_context")
    assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname  # TLS that checks the broker
    assert options == {"bootstrap_servers": "k:9093", "security_protocol": "SASL_SSL",
                       "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "skillsub-payments",
                       "sasl_plain_password": "pw"}
    half = Settings(kafka_bootstrap_servers="k:9093", kafka_security_protocol="SASL_PLAINTEXT",
                    kafka_sasl_username="skillsub-payments")  # fine for a migration Job: no broker
    with pytest.raises(RuntimeError, match="KAFKA_SASL_PASSWORD"):
        KafkaAccess.from_settings(half)  # a service starting on it refuses
    assert "pw" not in repr(s)  # the password is a secret: never printed with the settings


def test_production_runs_on_apache_kafka_only() -> None:
    assert Settings(**PROD).kafka_broker_kind == "apache"  # the default
    with pytest.raises(ValidationError, match="KAFKA_BROKER_KIND"):
        Settings(**PROD, kafka_broker_kind="tansu")


def test_each_principal_writes_only_its_own_topic_and_reads_only_what_it_consumes() -> None:
    acls = {s: service_acls(s, "t1.") for s in SERVICES}
    writes = {s: {a[4] for a in acls[s] if a[1] == "WRITE"} for s in SERVICES}
    reads = {s: {a[4] for a in acls[s] if a[1] == "READ" and a[2] == "TOPIC"} for s in SERVICES}
    assert writes == {s: {f"t1.{s}.events"} for s in SERVICES}
    assert reads == {"registry": {"t1.reporting.events"},  # reporting's audit checkpoints only
                     "eligibility": {"t1.registry.events", "t1.payments.events"},
                     "payments": {"t1.eligibility.events", "t1.registry.events"},  # + payee accounts, plans
                     "reporting": {"t1.registry.events", "t1.eligibility.events", "t1.payments.events"}}
    assert ("User:skillsub-payments", "READ", "GROUP", "LITERAL", "t1.skillsub-payments") in acls["payments"]
    assert {a[0] for a in acls["reporting"]} == {"User:skillsub-reporting"}
    assert all(a[3] == "LITERAL" for s in SERVICES for a in acls[s])  # no prefix wildcards
    assert consumer_group("payments", "t1.") == "t1.skillsub-payments"


def test_the_acls_follow_what_each_service_really_consumes() -> None:
    import importlib

    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.main").create_app(Settings(skillsub_env="test"))
        assert tuple(app.state.runtime.spec.consumes) == CONSUMES[service], service
        assert tuple(app.state.runtime.spec.checkpoints_from) == CHECKPOINTS_FROM.get(service, ()), service


def test_a_service_touches_the_marker_topic_on_the_embedded_broker_only() -> None:
    assert service_topics("payments", ("eligibility.events",), "apache") == ["payments.events", "eligibility.events"]
    assert service_topics("registry", (), "tansu") == ["registry.events", "skillsub.markers"]


MARKER = uuid.uuid4().bytes


@pytest.mark.parametrize(("reading", "verdict"), [
    (MarkerReading(True, MARKER, 0, 8), "present"),
    (MarkerReading(True, uuid.uuid4().bytes, 0, 8), "lost"),  # another record at the offset: a new log
    (MarkerReading(False), "lost"),  # the broker answered and has no marker topic
    (MarkerReading(True, None, 0, 5), "lost"),  # the log ends at the marker's offset: recreated
    (MarkerReading(True, None, 0, 3), "lost"),
    (MarkerReading(True, None, 6, 9), "aged_out"),  # retention moved the log start past it
    (MarkerReading(True, None, 0, 9), "unknown"),  # in range, yet the fetch returned nothing: a timeout
    (MarkerReading(None), "unknown"),  # no answer (error, timeout, refused)
    (MarkerReading(True, None, None, None), "unknown"),
    (MarkerReading(True, None, 6, None), "aged_out"),
])
def test_the_marker_is_lost_only_on_positive_proof(reading: MarkerReading, verdict: str) -> None:
    assert marker_verdict(MARKER, 5, reading) == verdict


async def test_a_consumer_fetches_at_most_the_configured_bytes_per_partition_and_per_response() -> None:
    # aiokafka holds a fetched response until its records are read: these bound that buffer.
    default, s = make_consumer("k:9092", "registry.events", group_id="g", max_records=500), Settings()
    assert (default._max_partition_fetch_bytes, default._fetch_max_bytes) == (1 << 20, 4 << 20)  # noqa: SLF001
    assert (s.kafka_max_partition_fetch_bytes, s.kafka_fetch_max_bytes) == (1 << 20, 4 << 20)
    given = make_consumer("k:9092", "registry.events", group_id="g", max_records=500,
                          max_partition_fetch_bytes=2 << 20, fetch_max_bytes=8 << 20)
    assert (given._max_partition_fetch_bytes, given._fetch_max_bytes) == (2 << 20, 8 << 20)  # noqa: SLF001
    with pytest.raises(ValidationError):
        Settings(kafka_fetch_max_bytes=1000)
