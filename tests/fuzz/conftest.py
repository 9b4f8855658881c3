"""One platform for the whole fuzz session: four apps on fresh databases, seeded with real objects.

The apps' lifespans run inside schemathesis's in-process ASGI client against the embedded
PostgreSQL and broker of tests/conftest.py; they stop (and the databases go) at the session's end.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.python import asgi

from services.eligibility.main import create_app as eligibility_app
from services.payments.main import create_app as payments_app
from services.registry.clients import DEMO_DISTRICT, DEMO_INSTITUTION_ID
from services.registry.main import create_app as registry_app
from services.reporting.main import create_app as reporting_app
from shared.db import drop_database
from shared.places import rolled_into
from shared.settings import SERVICES, Settings, with_database
from tests.conftest import TEST_BROKER, _async, bearer
from tests.fuzz.checks import Caller
from tests.fuzz.harness import Seeds, valid_resident_id

OTHER_INSTITUTION_ID = "91320681MA1XY0Q2KT"  # another institution, listed in 启东市
OTHER_DISTRICT = "320681"
CALLERS = {
    "anonymous": Caller("anonymous", None),
    "institution": Caller("institution", "institution", "demo-institution",
                          {"institution_id": DEMO_INSTITUTION_ID}),
    "other-institution": Caller("other-institution", "institution", "fuzz-other-institution",
                                {"institution_id": OTHER_INSTITUTION_ID}),
    "district": Caller("district", "district", "demo-district",
                       {"districts": rolled_into(DEMO_DISTRICT)}),
    "other-district": Caller("other-district", "district", "fuzz-other-district",
                             {"districts": rolled_into(OTHER_DISTRICT)}),
    "bureau": Caller("bureau", "bureau", "demo-bureau", {"may_see_ids": True}),
    "bureau-no-pii": Caller("bureau-no-pii", "bureau", "demo-bureau"),
    "auditor": Caller("auditor", "auditor", "demo-auditor", {"may_see_ids": True}),
    "hr": Caller("hr", "hr", "demo-hr"),
    "finance": Caller("finance", "finance", "demo-finance"),
    "feeder": Caller("feeder", "feeder", "demo-feeder-employment_service", {"feeder": "employment_service"}),
}


def headers_for(caller: Caller) -> dict[str, str]:
    if caller.role is None:
        return {}
    return bearer(caller.client_id, caller.role, **caller.claims)


class SessionLifespan:
    """An app whose lifespan the fixture runs once for the session. schemathesis's pytest plugin
    ends every ASGI lifespan after each test; restarting four services (consumer group joins) cost
    ~5 s per test, so the wrapper tells schemathesis the app has no lifespan of its own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)


@dataclass
class Platform:
    apps: dict[str, Any]
    schemas: dict[str, Any]
    seeds: dict[str, Seeds]
    objects: dict[str, Any]

    def client(self, service: str) -> asgi.ASGIClient:
        return asgi.ASGIClient(self.apps[service])


@pytest.fixture(scope="session")
def fuzz_settings(pg_server_url: str, broker_bootstrap: str) -> Settings:
    tag = uuid.uuid4().hex[:10]
    urls = {f"{s}_database_url": with_database(_async(pg_server_url), f"f_{tag}_{s}") for s in SERVICES}
    return Settings(skillsub_env="test", kafka_bootstrap_servers=broker_bootstrap, kafka_broker_kind=TEST_BROKER,
                    kafka_topic_prefix=f"f{tag}.", outbox_poll_seconds=0.2, kafka_topic_partitions=1, **urls)


@pytest.fixture(scope="session")
def platform(fuzz_settings: Settings) -> Iterator[Platform]:
    makers = {"registry": registry_app, "eligibility": eligibility_app, "payments": payments_app,
              "reporting": reporting_app}
    real = {name: make(fuzz_settings) for name, make in makers.items()}
    portal, stack = asgi._get_portal(), contextlib.AsyncExitStack()
    apps = {name: SessionLifespan(app) for name, app in real.items()}
    try:
        for app in real.values():  # in schemathesis's event loop thread, where requests run
            portal.call(stack.enter_async_context, app.router.lifespan_context(app))
        schemas = {name: schemathesis.openapi.from_asgi("/openapi.json", app) for name, app in apps.items()}
        p = Platform(apps, schemas, {}, {})
        _seed(p)
        yield p
    finally:
        with contextlib.suppress(Exception):
            portal.call(stack.aclose)
        for s in SERVICES:
            with contextlib.suppress(Exception):
                asgi._get_portal().call(drop_database, fuzz_settings.database_url_for(s))


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"seeding failed: {response.status_code} {response.text[:500]}"
    return response.json()  # type: ignore[no-any-return]


def _seed(p: Platform) -> None:
    """Two institutions in two districts, a client for each scope, a certificate, a class, money."""
    reg = p.client("registry")
    bureau = headers_for(CALLERS["bureau"])
    for code, district in ((DEMO_INSTITUTION_ID, DEMO_DISTRICT), (OTHER_INSTITUTION_ID, OTHER_DISTRICT)):
        _ok(reg.post("/v1/institutions", headers=bureau, json={
            "credit_code": code, "name": f"institution {code[-4:]}", "kind": "training",
            "district": district, "listed_from": "2019-01-01"}))
    admin = bearer("demo-security-admin", "security_admin")  # 安全管理员 issues clients
    _ok(reg.post("/v1/clients", headers=admin, json={
        "client_id": "fuzz-other-institution", "role": "institution", "institution_id": OTHER_INSTITUTION_ID}))
    _ok(reg.post("/v1/clients", headers=admin, json={
        "client_id": "fuzz-other-district", "role": "district", "districts": [OTHER_DISTRICT]}))
    inst = headers_for(CALLERS["institution"])
    cert = _ok(reg.post("/v1/certificates", headers=inst, json={
        "number": "Y00000000000001400000" + "1", "kind": "skill_level", "resident_id": valid_resident_id(7),
        "occupation_code": "6-18-01-01", "level": 4, "issue_date": "2020-05-20",
        "issuer_code": DEMO_INSTITUTION_ID, "district": DEMO_DISTRICT}))
    klass = _ok(reg.post("/v1/classes", headers=inst, json={
        "institution_id": DEMO_INSTITUTION_ID, "class_code": "FUZZ-1", "kind": "pre_job",
        "start_date": "2020-03-01", "end_date": "2020-05-01", "planned_trainees": 30,
        "enrolled_trainees": 20, "hours": 120, "district": DEMO_DISTRICT}))
    pay = p.client("payments")
    item = _ok(pay.post("/v1/allocations", headers=bearer("fuzz-hr-drafter", "hr"), json={
        "reference": "FUZZ-ALLOC-1", "source": "unemployment_insurance_surplus", "district": DEMO_DISTRICT,
        "amount_fen": 10_000_000}))["item_id"]
    _ok(pay.post(f"/v1/manual-items/{item}/approve", headers=headers_for(CALLERS["hr"])))  # maker-checker
    _ok(pay.post(f"/v1/manual-items/{item}/release", headers=headers_for(CALLERS["finance"])))
    p.objects.update(certificate_id=cert["certificate_id"], person_key=cert["person_key"],
                     class_id=klass["class_id"])
    p.seeds["registry"] = Seeds(path={"certificate_id": [cert["certificate_id"]],
                                      "person_key": [cert["person_key"]]},
                                body={"class_id": [klass["class_id"]]})
    p.seeds["eligibility"] = Seeds(path={"certificate_id": [cert["certificate_id"]],
                                         "person_key": [cert["person_key"]]})
    p.seeds["payments"] = Seeds()
    p.seeds["reporting"] = Seeds()
