"""Every YAML and JSON file of the deployment parses, and every manifest names its kind."""

from __future__ import annotations

import json

import pytest

from tests.deploy.manifests import DEPLOY, KUSTOMIZE_TREES, ROOT, load_all, yaml_files


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses(path) -> None:
    assert load_all(path), f"{path} is empty"


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.json")), ids=lambda p: p.name)
def test_every_json_file_parses(path) -> None:
    assert json.loads(path.read_text(encoding="utf-8"))


def test_every_kubernetes_document_names_its_api_kind_and_name() -> None:
    for tree in KUSTOMIZE_TREES.values():
        for path in tree.glob("*.yaml"):
            for doc in load_all(path):
                assert {"apiVersion", "kind"} <= doc.keys(), path
                if doc["kind"] != "Kustomization":
                    assert doc["metadata"]["name"], path
