"""The real path for eligibility scenarios: the registry and eligibility running in process on a
real PostgreSQL and broker, driven over REST as institutions, feeders and the bureau drive them;
decisions read back from eligibility's API. One pair of services per test module (each test uses
its own people and occupations). The registry's receipt day is a test clock: certificates of the
plan's years are received in those years, as they were."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.eligibility.main import create_app as eligibility_app
from services.registry.main import create_app as registry_app
from shared.db import drop_database
from shared.ids import credit_code_check_char, resident_id_check_char
from shared.roles import role_urls
from shared.settings import SERVICES, Settings, normalise_async_url
from tests.conftest import TEST_BROKER, serve
from tests.integration.registry.registry_helpers import publish

INSTITUTION = "52320613MJ0000003P"  # the demo institution: trains, evaluates, runs classes
EMPLOYER = "91320612MA1N00001G"
FEEDERS = {"employment": "employment_service", "registered_unemployment": "employment_service",
           "employment_difficulty": "employment_service", "unemployment_insurance_months": "social_insurance",
           "pension_insurance_months": "social_insurance", "monthly_pension_entitlement": "social_insurance",
           "drawing_monthly_pension": "social_insurance", "disability": "disabled_persons_federation",
           "family_link": "public_security", "low_income_rural_household": "rural_affairs",
           "dibao_household": "civil_affairs", "student": "education", "degree_record": "education",
           "provincial_subsidy_received": "provincial_subsidy"}


def resident_id(seq: int, birth: str = "19900101") -> str:
    first17 = f"320612{birth}{seq % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def credit_code(seq: int) -> str:
    first17 = f"91320612MA1NT{seq:04d}"
    return first17 + credit_code_check_char(first17)


def skill_number(level: int, seq: int) -> str:
    """Y + 21 digits; character 16 is the level (REFERENCE.md)."""
    return f"Y{seq:014d}{level}{seq:06d}"


@dataclass
class Pipeline:
    reg: httpx.AsyncClient
    eli: httpx.AsyncClient
    received: dict[str, dt.date]
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    async def auth(self, client_id: str) -> dict[str, str]:
        if client_id not in self.tokens:
            r = await self.reg.post("/v1/oauth/token", data={
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": f"{client_id}-secret"})
            assert r.status_code == 200, r.text
            self.tokens[client_id] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self.tokens[client_id]

    async def post(self, path: str, body: dict[str, Any], as_: str, expect: tuple[int, ...] = (200, 201)) -> Any:
        r = await self.reg.post(path, json=body, headers=await self.auth(as_))
        assert r.status_code in expect, (path, r.status_code, r.text)
        return r.json()

    async def fact(self, rid: str, kind: str, valid_from: str, valid_to: str | None = None, **attributes: Any) -> None:
        await self.post("/v1/facts", {"resident_id": rid, "kind": kind, "valid_from": valid_from,
                                      "valid_to": valid_to, "attributes": attributes},
                        f"demo-feeder-{FEEDERS[kind]}")

    async def institution_client(self, name: str, code: str) -> dict[str, str]:
        """Another institution's own client, issued by the security administrator (institutions
        push only their own certificates)."""
        made = await self.post("/v1/clients", {"client_id": name, "role": "institution", "institution_id": code},
                               "demo-security-admin", expect=(201,))
        r = await self.reg.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": name,
                                                        "client_secret": made["client_secret"]})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def employed(self, rid: str, hire: str = "2018-01-01", months: int = 36, employer: str = EMPLOYER) -> None:
        await self.fact(rid, "employment", hire, employer_code=employer, hire_date=hire, contract_months=months)

    async def certificate(self, rid: str, number: str, *, received: dt.date | None = None, **fields: Any) -> str:
        """Push a certificate as the institution does; the registry receives it on `received`."""
        body = {"number": number, "kind": "skill_level", "resident_id": rid, "occupation_code": "6-18-01-01",
                "level": 4, "issue_date": "2020-05-20", "issuer_code": INSTITUTION, "district": "320612"} | fields
        self.received["today"] = received or dt.date.fromisoformat(body["issue_date"]) + dt.timedelta(days=20)
        return str((await self.post("/v1/certificates", body, "demo-institution"))["certificate_id"])

    async def klass(self, code: str, kind: str, **fields: Any) -> str:
        body = {"institution_id": INSTITUTION, "class_code": code, "kind": kind, "occupation_code": "6-18-01-01",
                "level": 4, "start_date": "2020-03-01", "end_date": "2020-04-30", "planned_trainees": 30,
                "enrolled_trainees": 30, "hours": 80, "district": "320612"} | fields
        return str((await self.post("/v1/classes", body, "demo-institution"))["class_id"])

    async def completion(self, rid: str, class_id: str, kind: str = "class_completed", **fields: Any) -> str:
        body = {"kind": kind, "resident_id": rid, "class_id": class_id, "completed_on": "2020-04-30"} | fields
        return str((await self.post("/v1/completions", body, "demo-institution"))["completion_id"])

    async def catalog(self, version: str, code: str, *, level: int | None = 4, training: int = 120000,
                      appraisal: int = 20000, valid_from: str = "2019-01-01", edition: str = "2015") -> None:
        row = {"occupation_code": code, "occupation_edition": edition, "occupation_name": "示例工种", "level": level,
               "training_fen": training, "appraisal_fen": appraisal, "valid_from": valid_from}
        await self.publish("/v1/catalog/versions", json={"catalog_version": version, "standards": [row]})

    async def shortage(self, version: str, year: int, *codes: str) -> None:
        rows = "".join(f"{c},2015,示例工种\n" for c in codes)
        text = f"# version: {version}\n# year: {year}\noccupation_code,edition,name_zh\n{rows}"
        await self.publish("/v1/catalog/shortage-lists", content=text.encode(), headers={"content-type": "text/csv"})

    async def publish(self, path: str, **body: Any) -> None:
        """A Catalog upload in force: one bureau officer submits, a second approves (four eyes)."""
        r = await publish(self.reg, path, **body)
        assert r.status_code == 201, r.text

    async def decisions(self, trigger: str, until: Callable[[list[dict[str, Any]]], bool] = bool,
                        timeout: float = 45.0) -> list[dict[str, Any]]:
        """The trigger's current decisions once `until` holds for them."""
        deadline = asyncio.get_running_loop().time() + timeout
        got: list[dict[str, Any]] = []
        while asyncio.get_running_loop().time() < deadline:
            r = await self.eli.get(f"/v1/certificates/{trigger}/decisions", headers=await self.auth("demo-bureau"))
            got = r.json() if r.status_code == 200 else []
            if got and until(got):
                return got
            await asyncio.sleep(0.1)
        raise AssertionError(f"decisions of {trigger} never matched: {got}")

    async def decision(self, trigger: str, outcome: str | None = None, clause: str | None = None) -> dict[str, Any]:
        def ok(ds: list[dict[str, Any]]) -> bool:
            return (outcome is None or ds[0]["outcome"] == outcome) and (clause is None or ds[0]["clause"] == clause)
        return (await self.decisions(trigger, ok))[0]

    async def person_key(self, rid: str) -> str:
        r = await self.post("/v1/people", {"resident_id": rid}, "demo-feeder-employment_service")
        return str(r["person_key"])


def codes_of(decision: dict[str, Any]) -> set[str]:
    """Reason codes of a decision, or of a clause it lists as considered (codes only there)."""
    return {r if isinstance(r, str) else r["code"] for r in decision["reasons"]}


@pytest.fixture(scope="module")
async def pipeline(pg_server_url: str, broker_bootstrap: str) -> AsyncIterator[Pipeline]:
    tag = uuid.uuid4().hex[:10]
    urls: dict[str, str] = {}
    for s in SERVICES:  # as the conftest's `settings`: runtime and owner roles, the session's broker kind
        urls[f"{s}_database_url"], urls[f"{s}_migration_database_url"] = role_urls(
            normalise_async_url(pg_server_url), s, f"t_{tag}_{s}")
    settings = Settings(skillsub_env="test", kafka_bootstrap_servers=broker_bootstrap, kafka_broker_kind=TEST_BROKER,
                        kafka_topic_prefix=f"t{tag}.", outbox_poll_seconds=0.05, kafka_topic_partitions=2, **urls)
    received = {"today": dt.date(2020, 6, 1)}
    with pytest.MonkeyPatch.context() as mp:
        for module in ("services.registry.handlers", "services.registry.bulk", "services.registry.group",
                       "services.registry.contacts"):
            mp.setattr(f"{module}.nantong_today", lambda: received["today"], raising=False)
        try:
            async with serve(registry_app(settings)) as reg, serve(eligibility_app(settings)) as eli:
                yield Pipeline(reg, eli, received)
        finally:
            for s in ("registry", "eligibility"):
                with contextlib.suppress(Exception):
                    await drop_database(settings.migration_url_for(s))
