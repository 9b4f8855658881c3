"""The rendered manifests agree with the code: commands, ports, probe and metrics paths, the
settings the pods receive, topics, partitions against autoscaling, and database sizing."""

from __future__ import annotations

import pytest

from shared.settings import DEFAULT_PORTS, SERVICES
from tests.deploy.manifests import Doc, by_kind, config_data, container_env_names
from tests.deploy.settings_check import missing_production_vars, settings_from, unknown_vars

EVENT_TOPICS = ("registry.events", "eligibility.events", "payments.events", "reporting.events")
MARKER_TOPIC = "skillsub.markers"
CONSUMES = {
    "registry": (),
    "eligibility": ("registry.events", "payments.events"),
    "payments": ("eligibility.events", "registry.events"),
    "reporting": ("registry.events", "eligibility.events", "payments.events"),
}


def the_container(workload: Doc) -> Doc:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_topics_named_here_are_the_ones_the_code_publishes() -> None:
    try:
        from shared.events import TOPICS
        from shared.kafka import MARKER_TOPIC as code_marker
    except ModuleNotFoundError as exc:
        pytest.skip(f"backbone not importable yet: {exc}")
    assert tuple(TOPICS) == EVENT_TOPICS and code_marker == MARKER_TOPIC


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_its_own_command_on_its_own_port(
    rendered: tuple[Doc, ...], service: str
) -> None:
    container = the_container(by_kind(rendered, "Deployment")[service])
    assert container["command"] == ["skillsub", "serve", service, "--host", "0.0.0.0"]
    assert container["ports"] == [
        {"name": "http", "containerPort": DEFAULT_PORTS[service], "protocol": "TCP"}
    ]
    svc = by_kind(rendered, "Service")[service]
    assert svc["spec"]["ports"][0]["port"] == DEFAULT_PORTS[service]
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    pod_labels = by_kind(rendered, "Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("service", SERVICES)
def test_probes_use_healthz_for_liveness_and_readyz_for_readiness(
    rendered: tuple[Doc, ...], service: str
) -> None:
    container = the_container(by_kind(rendered, "Deployment")[service])
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_prometheus_scrapes_metrics_on_every_service_pod(rendered: tuple[Doc, ...]) -> None:
    (monitor,) = by_kind(rendered, "PodMonitor").values()
    assert [(e["port"], e["path"]) for e in monitor["spec"]["podMetricsEndpoints"]] == [
        ("http", "/metrics")
    ]
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        name
        for name, d in by_kind(rendered, "Deployment").items()
        if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert sorted(selected) == sorted(SERVICES)


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_variable_the_pods_receive_is_a_setting_and_production_ones_are_all_set(
    rendered: tuple[Doc, ...], kind: str
) -> None:
    workloads = by_kind(rendered, kind)
    assert len(workloads) == len(SERVICES)
    for name, workload in workloads.items():
        env = container_env_names(the_container(workload), rendered)
        assert unknown_vars(env) == set(), name
        assert missing_production_vars(env) == set(), name
        settings = settings_from(env)  # raises if a value is out of range or a dev default
        assert settings.skillsub_env == "production"


def test_secret_references_name_secrets_the_operators_or_the_readme_provide(
    rendered: tuple[Doc, ...],
) -> None:
    from tests.deploy.manifests import DEPLOY

    (cluster,) = by_kind(rendered, "Cluster").values()
    generated = {cluster["metadata"]["name"] + "-app"}  # CloudNativePG's application secret
    generated |= set(by_kind(rendered, "KafkaUser"))  # Strimzi's user secrets, named after the user
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for workload in [*by_kind(rendered, "Deployment").values(), *by_kind(rendered, "Job").values()]:
        for var in the_container(workload).get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] in generated or f"secret generic {ref['name']}" in readme, ref


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_migration_job_with_the_same_image_and_settings(
    rendered: tuple[Doc, ...], service: str
) -> None:
    deployment = the_container(by_kind(rendered, "Deployment")[service])
    job = the_container(by_kind(rendered, "Job")[f"migrate-{service}"])
    assert job["command"] == ["skillsub", "migrate", service]
    assert job["image"] == deployment["image"]
    job_env = container_env_names(job, rendered)
    service_env = container_env_names(deployment, rendered)
    assert job_env.items() <= service_env.items()


def test_one_image_runs_everything_and_production_pins_its_tag(
    tree: str, rendered: tuple[Doc, ...]
) -> None:
    workloads = [*by_kind(rendered, "Deployment").values(), *by_kind(rendered, "Job").values()]
    images = {the_container(w)["image"] for w in workloads}
    assert len(images) == 1
    if tree == "production":
        assert not images.pop().endswith(":latest")


def test_every_deployment_has_a_disruption_budget_and_an_autoscaler(
    rendered: tuple[Doc, ...],
) -> None:
    deployments = by_kind(rendered, "Deployment")
    pdbs = by_kind(rendered, "PodDisruptionBudget").values()
    for name, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(p["spec"]["selector"]["matchLabels"].items() <= labels.items() for p in pdbs), (
            name
        )
    hpas = by_kind(rendered, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == set(deployments)
    assert all(h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"] for h in hpas.values())


def test_topics_have_the_configured_partitions_and_replication(rendered: tuple[Doc, ...]) -> None:
    from shared.kafka import topic_config

    config = config_data(rendered)
    topics = {t["spec"]["topicName"]: t for t in by_kind(rendered, "KafkaTopic").values()}
    assert set(topics) == set(EVENT_TOPICS)  # on Apache Kafka the relay needs no marker topic
    brokers = sum(
        p["spec"]["replicas"]
        for p in by_kind(rendered, "KafkaNodePool").values()
        if "broker" in p["spec"]["roles"]
    )
    (kafka,) = by_kind(rendered, "Kafka").values()
    for name, topic in topics.items():
        if name != MARKER_TOPIC:
            assert topic["spec"]["partitions"] == int(config["KAFKA_TOPIC_PARTITIONS"]), name
        assert topic["spec"]["replicas"] == int(config["KAFKA_REPLICATION_FACTOR"]), name
        assert topic["spec"]["replicas"] <= brokers, name
        assert int(topic["spec"]["config"]["min.insync.replicas"]) <= topic["spec"]["replicas"], (
            name
        )
        # What the tests' broker gives the topics it creates (retention, min.insync.replicas).
        assert {k: str(v) for k, v in topic["spec"]["config"].items()} == topic_config(
            topic["spec"]["replicas"]
        ), name
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert int(kafka["spec"]["kafka"]["config"]["offsets.topic.replication.factor"]) <= brokers


def test_services_find_the_kafka_bootstrap_service_strimzi_creates(
    rendered: tuple[Doc, ...],
) -> None:
    (kafka,) = by_kind(rendered, "Kafka").values()
    (plain,) = [li for li in kafka["spec"]["kafka"]["listeners"] if not li["tls"]]
    expected = f"{kafka['metadata']['name']}-kafka-bootstrap:{plain['port']}"
    assert config_data(rendered)["KAFKA_BOOTSTRAP_SERVERS"] == expected


@pytest.mark.parametrize("service", [s for s in SERVICES if CONSUMES[s]])
def test_a_consumer_scales_up_to_the_partition_count_and_no_further(
    rendered: tuple[Doc, ...], service: str
) -> None:
    topics = {t["spec"]["topicName"]: t for t in by_kind(rendered, "KafkaTopic").values()}
    partitions = min(topics[t]["spec"]["partitions"] for t in CONSUMES[service])
    assert (
        by_kind(rendered, "HorizontalPodAutoscaler")[service]["spec"]["maxReplicas"] == partitions
    )


def test_postgres_accepts_every_connection_the_pools_can_open(rendered: tuple[Doc, ...]) -> None:
    # shared/db.py: pool_size plus max_overflow of the same size, per process.
    per_pod = 2 * int(config_data(rendered)["DB_POOL_SIZE"])
    pods = sum(
        h["spec"]["maxReplicas"] for h in by_kind(rendered, "HorizontalPodAutoscaler").values()
    )
    migrations = len(by_kind(rendered, "Job")) * per_pod
    reserve = 10  # superuser_reserved_connections, replication, the operator
    (cluster,) = by_kind(rendered, "Cluster").values()
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    assert max_connections >= pods * per_pod + migrations + reserve


def test_every_service_database_exists_owned_by_its_owner_role_beside_a_runtime_role(
        rendered: tuple[Doc, ...]) -> None:
    from shared.roles import owner_role, runtime_role

    (cluster,) = by_kind(rendered, "Cluster").values()
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    owners = {initdb["database"]: initdb["owner"]} | {
        d["spec"]["name"]: d["spec"]["owner"] for d in by_kind(rendered, "Database").values()}
    assert owners == {f"skillsub_{s}": owner_role(s) for s in SERVICES}
    managed = {r["name"] for r in cluster["spec"]["managed"]["roles"] if r.get("login")}
    assert managed == {owner_role(s) for s in SERVICES} | {runtime_role(s) for s in SERVICES}


def test_each_service_principal_has_exactly_the_acls_the_tests_enforce(rendered: tuple[Doc, ...]) -> None:
    from shared.kafka import principal_for, service_acls

    users = by_kind(rendered, "KafkaUser")
    assert set(users) == {principal_for(s) for s in SERVICES}
    (kafka,) = by_kind(rendered, "Kafka").values()
    for service in SERVICES:
        user = users[principal_for(service)]
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        declared = {
            (f"User:{principal_for(service)}", op.upper(), acl["resource"]["type"].upper(),
             acl["resource"]["patternType"].upper(), acl["resource"]["name"])
            for acl in user["spec"]["authorization"]["acls"]
            for op in acl["operations"]
        }
        assert declared == set(service_acls(service)), service


def test_the_brokers_authenticate_every_client_and_authorise_by_acl(rendered: tuple[Doc, ...]) -> None:
    from shared.apache_kafka import kafka_version

    (kafka,) = by_kind(rendered, "Kafka").values()
    spec = kafka["spec"]
    assert spec["kafka"]["version"] == kafka_version()  # the version the tests run
    assert spec["kafka"]["authorization"] == {"type": "simple"}
    assert all(li["authentication"] == {"type": "scram-sha-512"} for li in spec["kafka"]["listeners"])
    assert "userOperator" in spec["entityOperator"]
    config = config_data(rendered)
    assert (config["KAFKA_BROKER_KIND"], config["KAFKA_SECURITY_PROTOCOL"], config["KAFKA_SASL_MECHANISM"]) == (
        "apache", "SASL_PLAINTEXT", "SCRAM-SHA-512")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_connects_as_its_own_principal_with_the_password_strimzi_writes(
    rendered: tuple[Doc, ...], service: str
) -> None:
    env = {v["name"]: v for v in the_container(by_kind(rendered, "Deployment")[service])["env"]}
    assert env["KAFKA_SASL_USERNAME"]["value"] == f"skillsub-{service}"
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"skillsub-{service}", "key": "password"}
    job = the_container(by_kind(rendered, "Job")[f"migrate-{service}"])
    assert "KAFKA_SASL_PASSWORD" not in {v["name"] for v in job.get("env", [])}  # migrations need no broker
