"""Drive schemathesis in process: every operation of a service, for one caller, a fixed budget.

The apps run inside schemathesis's ASGI client (one event loop thread shared by every app, each
app's lifespan started once), so migrations, the outbox relay and the consumer run as in production
against the real embedded PostgreSQL and broker. Generation is derandomized: the same cases every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from shared.ids import resident_id_check_char
from tests.fuzz.checks import Caller, custom_checks

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
OPS_EXAMPLES = 3  # /healthz, /readyz, /metrics, /v1/audit*: no input worth fuzzing
OPS_PATHS = ("/healthz", "/readyz", "/metrics", "/v1/audit", "/v1/audit/verification")


def negative_body_rejected(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's negative_data_rejection, for broken bodies only (wrong types, extra fields).

    Query and path values are strings on the wire; pydantic's lax parsing of `?on=1e-3` as a date
    is documented behaviour, not a hole, so broken query values are not held against the API."""
    meta = getattr(case, "meta", None)
    if meta is None or not meta.is_negative_at(ParameterLocation.BODY):
        return None
    if case.media_type in STRING_BODIES:  # any bytes are a string: bulk lines and CSV files
        return None
    if any(meta.is_negative_at(loc) for loc in ParameterLocation if loc is not ParameterLocation.BODY):
        return None
    return negative_data_rejection(ctx, response, case)


STRING_BODIES = ("application/x-ndjson", "text/csv")
BUILTIN_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_schema_conformance, negative_body_rejected]


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    # Bulk imports take one JSON object per line; a generated string goes as it is.
    if isinstance(value, list):
        return "".join(json.dumps(v, default=str) + "\n" for v in value).encode()
    return value.encode() if isinstance(value, str) else json.dumps(value, default=str).encode()


@dataclass
class Tally:
    """What a run sent and what failed, per operation."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def slowest(self, n: int = 3) -> list[tuple[str, float]]:
        return sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]

    def saw(self, status: int) -> None:
        self.requests += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1


@dataclass(frozen=True)
class Seeds:
    """Real objects that generated path parameters are steered to, so checks reach past 404."""

    path: dict[str, list[str]] = field(default_factory=dict)
    body: dict[str, list[Any]] = field(default_factory=dict)


def valid_resident_id(n: int) -> str:
    """A GB 11643-valid number from an integer (通州区, born 1980-1999)."""
    first17 = f"320612{1980 + n % 20}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def _digest(case: Any) -> int:
    text = json.dumps([case.path_parameters, case.query, case.body], default=str, sort_keys=True)
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _is_positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is None or not meta.generation.mode.is_negative


def steer(case: Any, caller: Caller, seeds: Seeds) -> None:
    """Half the positive cases get real ids and the caller's own scope: past the 422 and 404 walls."""
    n = _digest(case)
    if not _is_positive(case) or n % 2:
        return
    for name in list(case.path_parameters or {}):
        if seeds.path.get(name):
            case.path_parameters[name] = seeds.path[name][n % len(seeds.path[name])]
    if isinstance(case.body, dict):
        _steer_body(case.body, caller, seeds, n)


def _steer_body(body: dict[str, Any], caller: Caller, seeds: Seeds, n: int) -> None:
    if "resident_id" in body:
        body["resident_id"] = valid_resident_id(n)
    for key in ("issuer_code", "institution_id"):
        if key in body and caller.institution_id:
            body[key] = caller.institution_id
    if "district" in body and caller.districts:
        body["district"] = sorted(caller.districts)[n % len(caller.districts)]
    for key, values in seeds.body.items():
        if key in body and values:
            body[key] = values[n % len(values)]


def _strategy(operation: Any) -> Any:
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    try:
        negative = operation.as_strategy(GenerationMode.NEGATIVE)
    except Exception:  # noqa: BLE001 - an operation with nothing to break has no negative cases
        return positive
    return st.one_of(positive, negative)


CALL_TIMEOUT_S = 120


def fuzz_operation(operation: Any, caller: Caller, headers: dict[str, str], seeds: Seeds,
                   tally: Tally) -> None:
    """Send `MAX_EXAMPLES` generated requests; the first failing check raises (hypothesis reports it)."""
    examples = OPS_EXAMPLES if operation.path in OPS_PATHS else MAX_EXAMPLES
    checks = custom_checks(caller)
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("FUZZ_SHRINK") else [])

    @hypothesis.settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                         phases=phases, suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(case=_strategy(operation))
    def run(case: Any) -> None:
        steer(case, caller, seeds)
        t0 = time.perf_counter()
        # The fuzz checks answers, not speed: a bulk import (parsed in a worker process) took 15.8 s
        # once with four other test runs on the 2-core machine, past the client's 10 s default.
        response = case.call(headers=headers, timeout=CALL_TIMEOUT_S)
        if os.environ.get("FUZZ_DEBUG") and time.perf_counter() - t0 > 0.5:
            print(f"slow {time.perf_counter() - t0:.1f}s {case.method} {case.formatted_path} {response.status_code}")
        tally.saw(response.status_code)
        case.validate_response(response, checks=BUILTIN_CHECKS, additional_checks=checks, headers=headers)

    run()


def fuzz_schema(schema: Any, caller: Caller, headers: dict[str, str], seeds: Seeds,
                skip: Callable[[Any], bool] = lambda op: False) -> Tally:
    """Every operation of the schema; failures are collected per operation, not stopped at."""
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        if skip(operation):
            continue
        label, started = f"{operation.method.upper()} {operation.path}", time.perf_counter()
        try:
            fuzz_operation(operation, caller, headers, seeds, tally)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together below
            tally.failures[label] = _short(exc)
        tally.seconds[label] = round(time.perf_counter() - started, 2)
    return tally


def _short(exc: BaseException) -> str:
    text = str(exc)
    for sub in getattr(exc, "exceptions", ()):  # hypothesis wraps a flaky failure: show the cause
        text += f"\n  caused by {type(sub).__name__}: {_short(sub)}"
    return text[:3000] + ("…" if len(text) > 3000 else "")
