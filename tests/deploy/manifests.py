"""Load the deployment files and render the kustomize trees, for the offline deploy checks."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZE_TREES = {
    "base": K8S / "base",
    "staging": K8S / "overlays" / "staging",
    "production": K8S / "overlays" / "production",
}
CI_DEPS_HINT = "run deploy/ci-deps.sh (installs kubectl for `kubectl kustomize`)"

Doc = dict[str, Any]


def load_all(path: Path) -> list[Doc]:
    """Every non-empty YAML document of a file."""
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def yaml_files() -> list[Path]:
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    return files + [ROOT / "docker-compose.yml"]


def kubectl() -> str | None:
    return shutil.which("kubectl")


@functools.cache
def render(tree: str) -> tuple[Doc, ...]:
    """`kubectl kustomize` output of one tree (base or an overlay), as parsed documents."""
    exe = kubectl()
    if exe is None:
        raise FileNotFoundError("kubectl")
    out = subprocess.run(
        [exe, "kustomize", str(KUSTOMIZE_TREES[tree])],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d is not None)


def by_kind(docs: tuple[Doc, ...] | list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def config_data(docs: tuple[Doc, ...], prefix: str = "skillsub-config") -> dict[str, str]:
    """The data of the generated ConfigMap (its name carries a content hash after rendering)."""
    maps = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(prefix + "-")
    ]
    assert len(maps) == 1, f"expected one generated {prefix} ConfigMap, found {len(maps)}"
    return dict(maps[0]["data"])


def container_env_names(container: Doc, docs: tuple[Doc, ...]) -> dict[str, str | None]:
    """Every variable a container receives: plain env, secret refs (value None) and envFrom maps."""
    names: dict[str, str | None] = {}
    maps = by_kind(docs, "ConfigMap")
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        assert ref is not None, "only ConfigMaps are expected in envFrom"
        names.update(maps[ref["name"]]["data"])
    for var in container.get("env", []):
        value_from = var.get("valueFrom", {})
        cm_ref = value_from.get("configMapKeyRef")
        if cm_ref:
            names[var["name"]] = maps[cm_ref["name"]]["data"][cm_ref["key"]]
        else:
            names[var["name"]] = var.get("value")
    return names
