"""JSON schemas for the custom resources the manifests use (Strimzi, CloudNativePG, Prometheus
Operator). kubernetes-validate ships only the built-in kinds, and the operators' CRDs are not on
PyPI, so these are written from the operators' API references, covering the fields we use.
Unknown fields are refused (additionalProperties: false) where we know the full set we write, so a
misspelt key fails here instead of being silently pruned by the API server.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_STR: Schema = {"type": "string"}
_INT: Schema = {"type": "integer", "minimum": 0}
_QTY: Schema = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
_LABELS: Schema = {"type": "object", "additionalProperties": _STR}
_RESOURCES: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        k: {
            "type": "object",
            "additionalProperties": False,
            "properties": {"cpu": _QTY, "memory": _QTY},
        }
        for k in ("requests", "limits")
    },
}
_SECRET_KEY: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "key"],
    "properties": {"name": _STR, "key": _STR},
}
_NAME_REF: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {"name": _STR},
}
_LABEL_SELECTOR: Schema = {"type": "object", "properties": {"matchLabels": _LABELS}}


def _resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                    "namespace": _STR,
                    "labels": _LABELS,
                    "annotations": _LABELS,
                },
            },
            "spec": spec,
        },
    }


def _obj(required: list[str], **props: Schema) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": props,
    }


_VOLUME = _obj(
    ["id", "type", "size"],
    id=_INT,
    type={"enum": ["persistent-claim", "ephemeral"]},
    size=_STR,
    deleteClaim={"type": "boolean"},
    **{"class": _STR},
    kraftMetadata={"enum": ["shared"]},
)
_STORAGE = _obj(
    ["type"],
    type={"enum": ["jbod", "persistent-claim", "ephemeral"]},
    volumes={"type": "array", "minItems": 1, "items": _VOLUME},
    size=_STR,
    deleteClaim={"type": "boolean"},
)
_LISTENER = _obj(
    ["name", "port", "type", "tls"],
    name={"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
    port={"type": "integer", "minimum": 9092},
    tls={"type": "boolean"},
    type={"enum": ["internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"]},
    authentication=_obj(["type"], type={"enum": ["scram-sha-512", "tls", "oauth", "custom"]}),
    networkPolicyPeers={
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"podSelector": _LABEL_SELECTOR, "namespaceSelector": _LABEL_SELECTOR},
        },
    },
)
_TOPIC_CONFIG: Schema = {
    "type": "object",
    "additionalProperties": {"type": ["string", "integer", "boolean"]},
}

KAFKA = _resource(
    "kafka.strimzi.io/v1beta2",
    "Kafka",
    _obj(
        ["kafka"],
        kafka=_obj(
            ["listeners"],
            version=_STR,
            metadataVersion=_STR,
            replicas=_INT,
            listeners={"type": "array", "minItems": 1, "items": _LISTENER},
            authorization=_obj(["type"], type={"enum": ["simple", "opa", "keycloak", "custom"]},
                               superUsers={"type": "array", "items": _STR}),
            config=_TOPIC_CONFIG,
            storage=_STORAGE,
            resources=_RESOURCES,
        ),
        entityOperator=_obj([], topicOperator={"type": "object"}, userOperator={"type": "object"}),
    ),
)
KAFKA_NODE_POOL = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaNodePool",
    _obj(
        ["replicas", "storage", "roles"],
        replicas=_INT,
        storage=_STORAGE,
        resources=_RESOURCES,
        roles={"type": "array", "minItems": 1, "items": {"enum": ["controller", "broker"]}},
    ),
)
KAFKA_TOPIC = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaTopic",
    _obj(
        [],
        topicName=_STR,
        partitions={"type": "integer", "minimum": 1},
        replicas={"type": "integer", "minimum": 1, "maximum": 32767},
        config=_TOPIC_CONFIG,
    ),
)
_ACL_RULE = _obj(
    ["resource", "operations"],
    resource=_obj(
        ["type"],
        type={"enum": ["topic", "group", "cluster", "transactionalId"]},
        name=_STR,
        patternType={"enum": ["literal", "prefix"]},
    ),
    operations={
        "type": "array",
        "minItems": 1,
        "items": {"enum": ["Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                           "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"]},
    },
    host=_STR,
    type={"enum": ["allow", "deny"]},
)
KAFKA_USER = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaUser",
    _obj(
        ["authentication"],
        authentication=_obj(["type"], type={"enum": ["scram-sha-512", "tls", "tls-external"]}),
        authorization=_obj(
            ["type", "acls"], type={"enum": ["simple"]}, acls={"type": "array", "items": _ACL_RULE}
        ),
    ),
)

_BARMAN = _obj(
    ["destinationPath"],
    destinationPath=_STR,
    endpointURL=_STR,
    serverName=_STR,
    s3Credentials=_obj(
        [],
        accessKeyId=_SECRET_KEY,
        secretAccessKey=_SECRET_KEY,
        region=_SECRET_KEY,
        sessionToken=_SECRET_KEY,
        inheritFromIAMRole={"type": "boolean"},
    ),
    wal=_obj(
        [],
        compression={"enum": ["gzip", "bzip2", "snappy"]},
        maxParallel={"type": "integer", "minimum": 1},
    ),
    data=_obj(
        [],
        compression={"enum": ["gzip", "bzip2", "snappy"]},
        jobs={"type": "integer", "minimum": 1},
    ),
)
PG_CLUSTER = _resource(
    "postgresql.cnpg.io/v1",
    "Cluster",
    _obj(
        ["instances", "storage"],
        instances={"type": "integer", "minimum": 1},
        imageName=_STR,
        primaryUpdateStrategy={"enum": ["supervised", "unsupervised"]},
        postgresql=_obj([], parameters={"type": "object", "additionalProperties": _STR}),
        bootstrap=_obj([], initdb=_obj([], database=_STR, owner=_STR, secret=_NAME_REF)),
        managed=_obj([], roles={"type": "array", "items": _obj(
            ["name"], name=_STR, ensure={"enum": ["present", "absent"]}, login={"type": "boolean"},
            passwordSecret=_NAME_REF, inRoles={"type": "array", "items": _STR})}),
        storage=_obj(["size"], size=_STR, storageClass=_STR),
        walStorage=_obj(["size"], size=_STR, storageClass=_STR),
        resources=_RESOURCES,
        monitoring=_obj([], enablePodMonitor={"type": "boolean"}),
        backup=_obj(
            [],
            retentionPolicy={"type": "string", "pattern": r"^[1-9][0-9]*[dwm]$"},
            barmanObjectStore=_BARMAN,
        ),
    ),
)
PG_SCHEDULED_BACKUP = _resource(
    "postgresql.cnpg.io/v1",
    "ScheduledBackup",
    _obj(
        ["schedule", "cluster"],
        # CloudNativePG's cron has six fields, seconds first.
        schedule={"type": "string", "pattern": r"^\S+( \S+){5}$"},
        backupOwnerReference={"enum": ["none", "self", "cluster"]},
        cluster=_NAME_REF,
        immediate={"type": "boolean"},
    ),
)
PG_DATABASE = _resource(
    "postgresql.cnpg.io/v1",
    "Database",
    _obj(
        ["name", "owner", "cluster"],
        name=_STR,
        owner=_STR,
        cluster=_NAME_REF,
        ensure={"enum": ["present", "absent"]},
    ),
)
POD_MONITOR = _resource(
    "monitoring.coreos.com/v1",
    "PodMonitor",
    _obj(
        ["selector", "podMetricsEndpoints"],
        selector=_LABEL_SELECTOR,
        podMetricsEndpoints={
            "type": "array",
            "minItems": 1,
            "items": _obj(
                ["port"],
                port=_STR,
                path={"type": "string", "pattern": "^/"},
                interval=_STR,
                relabelings={
                    "type": "array",
                    "items": _obj(
                        [],
                        sourceLabels={"type": "array", "items": _STR},
                        targetLabel=_STR,
                        action=_STR,
                        regex=_STR,
                        replacement=_STR,
                    ),
                },
            ),
        },
    ),
)
_RULE = _obj(
    ["expr"],
    alert=_STR,
    record=_STR,
    expr=_STR,
    labels=_LABELS,
    annotations=_LABELS,
    keep_firing_for=_STR,
    **{"for": _STR},
)
PROMETHEUS_RULE = _resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    _obj(
        ["groups"],
        groups={
            "type": "array",
            "minItems": 1,
            "items": _obj(
                ["name", "rules"], name=_STR, interval=_STR,
                rules={"type": "array", "minItems": 1, "items": _RULE},
            ),
        },
    ),
)

CUSTOM_SCHEMAS: dict[tuple[str, str], Schema] = {
    (s["properties"]["apiVersion"]["const"], s["properties"]["kind"]["const"]): s
    for s in (
        KAFKA,
        KAFKA_NODE_POOL,
        KAFKA_TOPIC,
        KAFKA_USER,
        PG_CLUSTER,
        PG_SCHEDULED_BACKUP,
        PG_DATABASE,
        POD_MONITOR,
        PROMETHEUS_RULE,
    )
}
