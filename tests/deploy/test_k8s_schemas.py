"""Every Kubernetes manifest, as written in the base and as rendered for each overlay, validates
against the Kubernetes API schemas (kubernetes-validate) or, for operator resources, against
tests/deploy/crd_schemas.py."""

from __future__ import annotations

import pytest

from tests.deploy.crd_schemas import CUSTOM_SCHEMAS
from tests.deploy.manifests import KUSTOMIZE_TREES, Doc, load_all

jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (test extras)")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install kubernetes-validate (test extras)"
)

# The oldest Kubernetes minor we support; strict: unknown fields are errors.
KUBERNETES_VERSION = "1.30.0"


def validation_errors(doc: Doc) -> list[str]:
    """Schema errors of one manifest; empty when it is valid."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    where = f"{key[1]}/{doc.get('metadata', {}).get('name')}"
    if key in CUSTOM_SCHEMAS:
        validator = jsonschema.Draft202012Validator(CUSTOM_SCHEMAS[key])
        return [
            f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {key} (add it to crd_schemas.py)"]
    except kubernetes_validate.ValidationError as exc:
        return [f"{where}: {exc}"]
    return []


def base_files() -> list[str]:
    base = KUSTOMIZE_TREES["base"]
    return sorted(p.name for p in base.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("name", base_files())
def test_every_manifest_file_in_the_base_validates_as_written(name: str) -> None:
    docs = load_all(KUSTOMIZE_TREES["base"] / name)
    assert docs, f"{name} holds no manifest"
    errors = [e for d in docs for e in validation_errors(d)]
    assert errors == []


def test_every_rendered_manifest_validates_against_the_kubernetes_schemas(
    tree: str, rendered: tuple[Doc, ...]
) -> None:
    errors = [e for d in rendered for e in validation_errors(d)]
    assert errors == [], f"{tree}: " + "\n".join(errors)


def test_the_validator_rejects_a_misspelt_field() -> None:
    # Guards the check itself: a typo in a probe or in a KafkaTopic must not pass.
    deployment = load_all(KUSTOMIZE_TREES["base"] / "registry.yaml")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"]["httpGet"]["pathh"] = container["livenessProbe"]["httpGet"].pop(
        "path"
    )
    assert validation_errors(deployment)
    topic = next(
        d for d in load_all(KUSTOMIZE_TREES["base"] / "kafka.yaml") if d["kind"] == "KafkaTopic"
    )
    topic["spec"]["partition"] = topic["spec"].pop("partitions")
    assert validation_errors(topic)


def test_rendering_produces_the_same_kinds_in_every_tree(
    tree: str, rendered: tuple[Doc, ...]
) -> None:
    kinds = sorted({d["kind"] for d in rendered})
    assert kinds == sorted(
        [
            "ConfigMap",
            "Database",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Job",
            "Kafka",
            "KafkaNodePool",
            "KafkaTopic",
            "KafkaUser",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PodMonitor",
            "PrometheusRule",
            "ScheduledBackup",
            "Service",
            "ServiceAccount",
            "Cluster",
        ]
    )
