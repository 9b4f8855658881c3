"""Schemathesis against every operation of every service, for callers from no token to the
privileged role: no 5xx, responses as documented, and the custom checks of tests/fuzz/checks.py."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.fuzz.conftest import CALLERS, Platform, headers_for
from tests.fuzz.harness import fuzz_schema

# schemathesis's negative generator touches `random` inside strategies; hypothesis seeds it anyway.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
REPORTS = Path(os.environ.get("FUZZ_REPORTS", Path(tempfile.gettempdir()) / "skillsub-fuzz"))
# (service, caller): no token, an unprivileged role, and the role that owns the service's writes.
RUNS = [
    ("registry", "anonymous"), ("registry", "institution"), ("registry", "district"),
    ("registry", "bureau"),
    ("eligibility", "anonymous"), ("eligibility", "institution"), ("eligibility", "bureau"),
    ("payments", "anonymous"), ("payments", "institution"), ("payments", "hr"), ("payments", "finance"),
    ("reporting", "anonymous"), ("reporting", "district"), ("reporting", "bureau"),
]


@pytest.mark.parametrize(("service", "caller_name"), RUNS, ids=[f"{s}-{c}" for s, c in RUNS])
def test_generated_requests_get_no_server_error_and_documented_answers(
        platform: Platform, service: str, caller_name: str) -> None:
    caller = CALLERS[caller_name]
    started = time.perf_counter()
    tally = fuzz_schema(platform.schemas[service], caller, headers_for(caller), platform.seeds[service])
    print(f"\n{service}/{caller_name}: {tally.requests} requests in {time.perf_counter() - started:.1f} s, "
          f"statuses {dict(sorted(tally.by_status.items()))}, slowest {tally.slowest()}")
    report = "\n\n".join(f"== {op}\n{text}" for op, text in tally.failures.items())
    if report:
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / f"{service}-{caller_name}.txt").write_text(report)
    assert not tally.failures, f"{len(tally.failures)} operation(s) failed:\n{report}"
