#!/usr/bin/env bash
# System tools some tests use beyond Python packages, from Debian's packages:
#   kubectl (kustomize render of deploy/k8s overlays), chromium + chromium-driver (dashboard in a
#   real headless browser), prometheus (promtool check metrics).
# Idempotent; installs only what is missing; needs root (CI runs as root). Without root it says
# what is missing and the tests that need it skip with that reason.
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || echo "test-deps: could not install ${missing[*]}" >&2
  else
    echo "test-deps: not root; missing ${missing[*]} (tests needing them will skip)" >&2
  fi
fi
if [ "$(id -u)" = 0 ]; then
  bash "$(dirname "$0")/../deploy/ci-deps.sh" || echo "test-deps: kubectl not installed" >&2
fi
exit 0
