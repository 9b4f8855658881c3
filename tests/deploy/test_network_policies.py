"""NetworkPolicies deny by default and allow just the event flow, REST users and Prometheus."""

from __future__ import annotations

import pytest

from shared.settings import DEFAULT_PORTS, SERVICES
from tests.deploy.manifests import Doc, by_kind
from tests.deploy.netpol import Address, Pod, connection_allowed, egress_allowed

INGRESS_CONTROLLER = Pod({"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")
PROMETHEUS = Pod({"app.kubernetes.io/name": "prometheus"}, "monitoring")
INTERNET = Address("8.8.8.8")


def namespace_of(rendered: tuple[Doc, ...]) -> str:
    return rendered[0]["metadata"].get("namespace", "default")


def policies(rendered: tuple[Doc, ...]) -> list[Doc]:
    return list(by_kind(rendered, "NetworkPolicy").values())


def service_pod(rendered: tuple[Doc, ...], service: str) -> Pod:
    template = by_kind(rendered, "Deployment")[service]["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    return Pod(template["metadata"]["labels"], namespace_of(rendered), ports)


def migration_pod(rendered: tuple[Doc, ...], service: str) -> Pod:
    labels = by_kind(rendered, "Job")[f"migrate-{service}"]["spec"]["template"]["metadata"][
        "labels"
    ]
    return Pod(labels, namespace_of(rendered))


def postgres_pod(rendered: tuple[Doc, ...]) -> Pod:
    (cluster,) = by_kind(rendered, "Cluster").values()
    return Pod(
        {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/instanceRole": "primary"},
        namespace_of(rendered),
    )


def kafka_pod(rendered: tuple[Doc, ...]) -> Pod:
    (kafka,) = by_kind(rendered, "Kafka").values()
    return Pod(
        {
            "strimzi.io/cluster": kafka["metadata"]["name"],
            "strimzi.io/kind": "Kafka",
            "strimzi.io/broker-role": "true",
        },
        namespace_of(rendered),
    )


def treasury(rendered: tuple[Doc, ...]) -> Address:
    rules = by_kind(rendered, "NetworkPolicy")["payments"]["spec"]["egress"]
    (block,) = [to["ipBlock"]["cidr"] for r in rules for to in r["to"] if "ipBlock" in to]
    return Address(block.split("/")[0])


@pytest.mark.parametrize("service", SERVICES)
def test_rest_users_and_prometheus_reach_each_service_and_nobody_else_does(
    rendered: tuple[Doc, ...], service: str
) -> None:
    pols, pod, port = policies(rendered), service_pod(rendered, service), DEFAULT_PORTS[service]
    assert connection_allowed(pols, INGRESS_CONTROLLER, pod, port)
    assert connection_allowed(pols, PROMETHEUS, pod, port)
    assert not connection_allowed(pols, INGRESS_CONTROLLER, pod, port + 1000)
    assert not connection_allowed(pols, kafka_pod(rendered), pod, port)
    assert not connection_allowed(pols, Pod({"app": "other"}, "elsewhere"), pod, port)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reaches_postgres_kafka_dns_and_the_registrys_keys_only(
    rendered: tuple[Doc, ...], service: str
) -> None:
    pols, pod = policies(rendered), service_pod(rendered, service)
    dns = Pod({"k8s-app": "kube-dns"}, "kube-system")
    assert connection_allowed(pols, pod, postgres_pod(rendered), 5432)
    assert egress_allowed(pols, pod, kafka_pod(rendered), 9092)
    assert egress_allowed(pols, pod, dns, 53)
    assert not egress_allowed(pols, pod, INTERNET, 443)
    assert not egress_allowed(pols, pod, kafka_pod(rendered), 9093)  # controller port
    # The one call between services: the registry's JWKS and revocation list (shared/auth.py).
    for other in (s for s in SERVICES if s != service):
        allowed = connection_allowed(pols, pod, service_pod(rendered, other), DEFAULT_PORTS[other])
        assert allowed == (other == "registry"), (service, other)


@pytest.mark.parametrize("service", SERVICES)
def test_only_payments_may_call_the_treasury(rendered: tuple[Doc, ...], service: str) -> None:
    allowed = egress_allowed(
        policies(rendered), service_pod(rendered, service), treasury(rendered), 443
    )
    assert allowed == (service == "payments")


@pytest.mark.parametrize("service", SERVICES)
def test_migration_jobs_reach_postgres_and_not_kafka(
    rendered: tuple[Doc, ...], service: str
) -> None:
    pols, pod = policies(rendered), migration_pod(rendered, service)
    assert connection_allowed(pols, pod, postgres_pod(rendered), 5432)
    assert not egress_allowed(pols, pod, kafka_pod(rendered), 9092)


def test_postgres_refuses_pods_that_are_not_skillsub(rendered: tuple[Doc, ...]) -> None:
    pols, pg = policies(rendered), postgres_pod(rendered)
    assert not connection_allowed(pols, Pod({"app": "other"}, namespace_of(rendered)), pg, 5432)
    assert connection_allowed(pols, Pod({"app": "cnpg"}, "cnpg-system"), pg, 8000)
    assert connection_allowed(pols, PROMETHEUS, pg, 9187)


def test_every_pod_in_the_namespace_denies_ingress_by_default(rendered: tuple[Doc, ...]) -> None:
    stranger = Pod({"app": "anything"}, namespace_of(rendered))
    assert not connection_allowed(policies(rendered), INGRESS_CONTROLLER, stranger, 80)


def test_kafka_brokers_accept_only_skillsub_pods(rendered: tuple[Doc, ...]) -> None:
    (kafka,) = by_kind(rendered, "Kafka").values()
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    peers = listener["networkPolicyPeers"]
    assert peers == [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "skillsub"}}}]
    assert all(
        peers[0]["podSelector"]["matchLabels"].items() <= service_pod(rendered, s).labels.items()
        for s in SERVICES
    )
