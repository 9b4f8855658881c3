#!/usr/bin/env bash
# Tools the offline deploy checks (tests/deploy) need beyond the Python test extras:
# `kubectl kustomize` to render the overlays. Machines of this kind usually have kubectl already
# (kustomize v5); otherwise Debian's kubernetes-client (kubectl 1.20, kustomize v2.0) is installed,
# and the manifests stay within the kustomize fields both versions render identically.
# Idempotent; needs root (CI runs as root). The Python side (jsonschema, kubernetes-validate) comes
# from pyproject's `test` extras.
set -euo pipefail

if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
kubectl version --client >/dev/null 2>&1 || { echo "ci-deps: kubectl did not install" >&2; exit 1; }
