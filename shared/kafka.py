"""Kafka clients, topics and ACLs, for the two brokers the platform runs on (`KAFKA_BROKER_KIND`):

- `apache`: Apache Kafka, what production runs (durable, replicated, ACLs). Producers are
  idempotent with acks=all, so a retried send after a lost acknowledgement is not written twice;
  consumers use static membership (`group.instance.id`), so a restarted consumer takes its
  partitions back at once instead of waiting out the session timeout in a rebalance.
- `tansu`: the embedded broker (memory only) of one-command runs and tests. It refuses idempotent
  producers (InitProducerId answers UnknownError), so they stay off there; exactly-once effects
  come from the outbox and the inbox on both brokers, never from Kafka transactions.

Clients reach a broker through a `KafkaAccess` (address, kind, SASL credentials); a bare
bootstrap string means PLAINTEXT with no broker-specific features.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.events import TOPICS

if TYPE_CHECKING:
    from shared.settings import Settings

BrokerKind = Literal["apache", "tansu"]
MARKER_TOPIC = "skillsub.markers"
SASL_MECHANISM = "SCRAM-SHA-512"
# Event topics keep a month: a consumer can rebuild after an outage (the outbox and the inbox make
# replays harmless). deploy/ declares the same (tests/deploy checks it).
RETENTION_MS = 30 * 24 * 3600 * 1000
log = logging.getLogger("skillsub.kafka")


def topic_config(replication: int) -> dict[str, str]:
    """An event topic's settings: with acks=all, a write survives the loss of one replica."""
    return {"retention.ms": str(RETENTION_MS), "min.insync.replicas": str(max(1, replication - 1))}


@dataclass(frozen=True)
class KafkaAccess:
    """Where the broker is, which kind it is, and who this client is to it."""

    bootstrap: str
    kind: BrokerKind = "tansu"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = SASL_MECHANISM
    username: str | None = None
    password: str | None = None
    ssl_cafile: str | None = None  # SASL_SSL: the brokers' CA (default: the system's trust store)

    @property
    def durable(self) -> bool:
        """The broker keeps what it acknowledged across restarts (Apache Kafka), so nothing needs
        republishing after it comes back; the embedded Tansu broker keeps messages in memory only."""
        return self.kind == "apache"

    def options(self) -> dict[str, Any]:
        """Connection keyword arguments for every aiokafka client."""
        opts: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            opts |= {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.username,
                     "sasl_plain_password": self.password}
        if self.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            opts["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile)
        return opts

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaAccess:
        """A service refuses to start without what its broker needs (a migration Job, which
        touches no broker, runs without Kafka credentials)."""
        if not settings.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set (run `skillsub up` for the embedded platform)")
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        if settings.kafka_security_protocol.startswith("SASL") and not (settings.kafka_sasl_username and password):
            raise RuntimeError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD must be set for "
                               f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}")
        return cls(settings.kafka_bootstrap_servers, kind=settings.kafka_broker_kind,
                   security_protocol=settings.kafka_security_protocol, sasl_mechanism=settings.kafka_sasl_mechanism,
                   username=settings.kafka_sasl_username, password=password,
                   ssl_cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)


def access(target: str | KafkaAccess) -> KafkaAccess:
    return target if isinstance(target, KafkaAccess) else KafkaAccess(target)


def make_producer(target: str | KafkaAccess) -> AIOKafkaProducer:
    a = access(target)
    return AIOKafkaProducer(
        **a.options(),
        acks="all",
        enable_idempotence=a.durable,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


# What one fetch may bring back, per partition and in all: aiokafka holds a fetched response until
# its records are read, so these bound the consumer's buffer (docs/performance.md, "Memory"). A
# batch of 500 envelopes of about 1 KB fits in one partition's fetch (a record batch larger than
# the limit still comes back whole on Apache Kafka, KIP-74).
MAX_PARTITION_FETCH_BYTES = 1 << 20
FETCH_MAX_BYTES = 4 << 20


def make_consumer(target: str | KafkaAccess, *topics: str, group_id: str | None, max_records: int,
                  group_instance_id: str | None = None, max_partition_fetch_bytes: int = MAX_PARTITION_FETCH_BYTES,
                  fetch_max_bytes: int = FETCH_MAX_BYTES) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        **access(target).options(),
        group_id=group_id,
        group_instance_id=group_instance_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=max_partition_fetch_bytes,
        fetch_max_bytes=fetch_max_bytes,
        max_poll_records=max_records,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )


def group_instance_id(settings: Settings, service: str) -> str | None:
    """Static membership: KAFKA_GROUP_INSTANCE_ID, else `<service>-<host name>` on Apache Kafka (a
    restarted container keeps its host name, so it comes back as the same member). Unique per
    member of a group: in Kubernetes the host name is the pod's name."""
    if settings.kafka_group_instance_id:
        return settings.kafka_group_instance_id
    if settings.kafka_broker_kind == "apache":
        return f"{service}-{socket.gethostname()}"
    return None


def produced_topic(service: str) -> str:
    """The one topic a service writes: events are named `<producer>.<...>` (shared/events.py)."""
    topic = f"{service}.events"
    assert topic in TOPICS, topic
    return topic


def principal_for(service: str) -> str:
    """The broker principal of a service (SCRAM user name, Strimzi KafkaUser name)."""
    return f"skillsub-{service}"


def consumer_group(service: str, prefix: str = "") -> str:
    return f"{prefix}skillsub-{service}"


# What each service reads (its ServiceSpec.consumes; tests/unit/shared/test_kafka_access.py checks
# they agree), for the ACLs of its principal.
CONSUMES: dict[str, tuple[str, ...]] = {
    "registry": (),
    "eligibility": ("registry.events", "payments.events"),  # payments: statuses for institutions
    "payments": ("eligibility.events", "registry.events"),
    "reporting": ("registry.events", "eligibility.events", "payments.events"),
}
# What a service reads only to record another's audit checkpoints (ServiceSpec.checkpoints_from):
# the registry records reporting's, whose topic nobody else consumes (shared/audit.py).
CHECKPOINTS_FROM: dict[str, tuple[str, ...]] = {"registry": ("reporting.events",)}


def topics_read(service: str) -> tuple[str, ...]:
    """Every topic `service`'s consumer subscribes to: what it consumes and what it reads for checkpoints."""
    return (*CONSUMES[service], *(t for t in CHECKPOINTS_FROM.get(service, ()) if t not in CONSUMES[service]))


def service_acls(service: str, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """(principal, operation, resource type, pattern type, name): a service writes only its own
    topic, reads only what it consumes, and commits offsets only for its own group."""
    user = f"User:{principal_for(service)}"
    own = prefix + produced_topic(service)
    acls = [(user, op, "TOPIC", "LITERAL", own) for op in ("WRITE", "DESCRIBE")]
    for topic in topics_read(service):
        acls += [(user, op, "TOPIC", "LITERAL", prefix + topic) for op in ("READ", "DESCRIBE")]
    if topics_read(service):
        acls.append((user, "READ", "GROUP", "LITERAL", consumer_group(service, prefix)))
    return acls


def service_topics(service: str, consumes: Iterable[str], kind: BrokerKind) -> list[str]:
    """The topics a service touches: its own, those it reads, and the relay's marker topic on the
    embedded broker (a durable broker needs no marker)."""
    topics = [produced_topic(service), *consumes]
    return topics + ([MARKER_TOPIC] if kind == "tansu" else [])


async def ensure_topics(target: str | KafkaAccess, partitions: int, replication: int, prefix: str = "",
                        topics: Sequence[str] | None = None) -> list[str]:
    """Create the missing ones of `topics` (default: every event topic and the marker topic) under
    `prefix` (KAFKA_TOPIC_PREFIX, e.g. one per test run); return the ones created. A principal
    sees only topics it may describe: pass the service's own (`service_topics`)."""
    wanted_names = list(topics) if topics is not None else [*TOPICS, MARKER_TOPIC]
    configs = topic_config(replication) if access(target).durable else None
    wanted = [NewTopic(prefix + t, 1, replication) if t == MARKER_TOPIC else
              NewTopic(prefix + t, partitions, replication, topic_configs=configs) for t in wanted_names]
    admin = AIOKafkaAdminClient(**access(target).options(), request_timeout_ms=15000)
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


async def broker_reachable(target: str | KafkaAccess) -> bool:
    admin = AIOKafkaAdminClient(**access(target).options(), request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
