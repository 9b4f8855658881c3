"""The attacks of issue 14, each against the running platform: four service processes as
`skillsub up` starts them (owner and runtime database roles, tokens from the registry verified
through its JWKS, revocations polled from it), embedded PostgreSQL and broker."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.clock import CLOCK_FILE_ENV
from shared.platform import Platform, free_ports
from shared.settings import SERVICES

ENV = {"KAFKA_TOPIC_PARTITIONS": "2", "OUTBOX_POLL_SECONDS": "0.05", "SKILLSUB_ENV": "test",
       "SKILLSUB_AUDIT_CHECKPOINT_SECONDS": "1",
       # the largest bulk upload this platform takes: the readiness test sends one this size
       "SKILLSUB_MAX_BULK_BYTES": str(2 * 1024 * 1024)}


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    folder = tmp_path_factory.mktemp("security")
    # the services' test clock (shared/clock.py): the real day until a test lets notices (公示) run
    env = dict(ENV) | {CLOCK_FILE_ENV: str(folder / "today")}
    p = Platform(data_dir=folder / "data", ports=free_ports(), env=env)
    p.start_servers()
    try:
        p.start_services()
        yield p
    finally:
        p.stop()


def token(platform: Platform, client_id: str, secret: str | None = None, **form: str) -> str:
    r = httpx.post(f"{platform.url('registry')}/v1/oauth/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": secret or f"{client_id}-secret", **form})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# One authenticated request per service: 401 without a token it accepts; past authentication a
# bureau token gets 404 / 200 / 200 / 422 (the empty body), never a change.
PROBES = {"registry": ("GET", "/v1/people/no-such-person"), "eligibility": ("GET", "/v1/reviews"),
          "payments": ("GET", "/v1/disbursements"), "reporting": ("PUT", "/v1/statistics/employed")}


def probe(platform: Platform, service: str, headers: dict[str, str]) -> httpx.Response:
    method, path = PROBES[service]
    return httpx.request(method, platform.url(service) + path, headers=headers, timeout=30,
                         json={} if method == "PUT" else None)


def until(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until `check()` is truthy; fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def cli(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], env=platform.service_env("cli"),
                          capture_output=True, text=True, timeout=120, check=False)


def log_of(platform: Platform, service: str) -> str:
    path: Path = platform.data_dir / f"{service}.log"
    return path.read_text(errors="replace") if path.exists() else ""


__all__ = ["SERVICES", "bearer", "cli", "log_of", "probe", "token", "until"]
