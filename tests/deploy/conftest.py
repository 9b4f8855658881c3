"""Fixtures for the offline deploy checks: the rendered kustomize trees."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy.manifests import CI_DEPS_HINT, KUSTOMIZE_TREES, Doc, kubectl, render


@pytest.fixture(params=sorted(KUSTOMIZE_TREES), scope="session")
def tree(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def rendered(tree: str) -> tuple[Doc, ...]:
    if kubectl() is None:
        pytest.skip(f"kubectl not found: {CI_DEPS_HINT}")
    try:
        return render(tree)
    except subprocess.CalledProcessError as exc:  # a broken overlay is a failure, not a skip
        pytest.fail(f"kubectl kustomize {tree} failed:\n{exc.stderr}")
