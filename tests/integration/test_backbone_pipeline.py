"""A certificate travels registry -> eligibility -> payments -> reporting over the real bus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from services.eligibility.main import create_app as eligibility_app
from services.payments.main import create_app as payments_app
from services.registry.main import create_app as registry_app
from services.reporting.main import create_app as reporting_app
from tests.accounts import card_number
from tests.conftest import serve

pytestmark = pytest.mark.usefixtures("drop_test_databases")

WORKER_ID = "11010519491231002X"
LATHE = "6-18-01-01"


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def auth(client: Any, client_id: str) -> dict[str, str]:
    """Bearer header for a demo client (docs/auth.md)."""
    r = await client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                   "client_secret": f"{client_id}-secret"})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def skill_number(level: int, seq: int) -> str:
    """Y + 21 digits; character 16 is the level (REFERENCE.md)."""
    return f"Y{seq:014d}{level}{seq:06d}"


def certificate(number: str = skill_number(4, 1), **over: Any) -> dict[str, Any]:
    body = {"number": number, "kind": "skill_level", "resident_id": WORKER_ID,
            "occupation_code": LATHE, "level": 4, "issue_date": "2020-05-20",
            "issuer_code": "52320613MJ0000003P", "district": "320612",
            "training_kind": "pre_job", "training_start_date": "2020-03-01"}
    return body | over


CATALOG = {"catalog_version": "test-2019", "standards": [
    {"occupation_code": LATHE, "occupation_name": "车工", "level": 4, "training_fen": 120000,
     "appraisal_fen": 20000, "valid_from": "2019-01-01"}]}
EMPLOYMENT = {"resident_id": WORKER_ID, "kind": "employment", "valid_from": "2020-02-15",
              "source": "employment_service",
              "attributes": {"employer_code": "91320612MA1N00001G", "hire_date": "2020-02-15",
                             "contract_months": 36}}


async def test_certificate_flows_to_a_decision_a_draft_and_the_progress_count(settings) -> None:
    apps = [registry_app(settings), eligibility_app(settings), payments_app(settings), reporting_app(settings)]
    async with serve(apps[0]) as reg, serve(apps[1]) as eli, serve(apps[2]) as pay, serve(apps[3]) as rep:
        bureau, feeder = await auth(reg, "demo-bureau"), await auth(reg, "demo-feeder-employment_service")
        institution = await auth(reg, "demo-institution")
        submitted = await reg.post("/v1/catalog/versions", json=CATALOG, headers=bureau)
        assert submitted.status_code == 202, submitted.text  # four eyes: a second officer approves
        approval = f"/v1/catalog/approvals/{submitted.json()['approval_id']}"
        assert (await reg.post(approval, headers=await auth(reg, "demo-bureau-2"))).status_code == 201
        assert (await reg.post("/v1/facts", json=EMPLOYMENT, headers=feeder)).status_code == 201
        await allocate(reg, pay, 10_000_000)
        created = await reg.post("/v1/certificates", json=certificate(), headers=institution)
        assert created.status_code == 201, created.text
        cert_id = created.json()["certificate_id"]
        assert created.json()["resident_id_masked"] == "**************002X"  # the last four only

        async def decided() -> Any:
            r = await eli.get(f"/v1/certificates/{cert_id}/decisions", headers=await auth(reg, "demo-bureau"))
            return r.json() if r.status_code == 200 else None

        decisions = await eventually(decided)
        pre_job = next(d for d in decisions if d["clause"] == "四.2")
        assert pre_job["outcome"] == "approved"
        assert pre_job["amount_fen"] == 70000  # 50% x (1,200 + 200) yuan
        assert "四.2" in pre_job["clauses_cited"]
        assert pre_job["explanation_zh"] and pre_job["explanation_en"]

        async def drafted() -> Any:
            finance = await auth(reg, "demo-finance")
            r = await pay.get(f"/v1/decisions/{pre_job['decision_id']}/disbursement", headers=finance)
            return r.json() if r.status_code == 200 else None

        held = await eventually(lambda: payment_status(pay, reg, pre_job["decision_id"]))
        assert held["hold"]["reason"] == "no_payment_account"  # the worker's card is not on record yet
        assert held["payee_kind"] == "worker" and held["payee_ref"] == created.json()["person_key"]
        account = {"payee_kind": "worker", "resident_id": WORKER_ID, "account_kind": "social_security_card",
                   "account_number": card_number(1)}
        assert (await reg.post("/v1/payee-accounts", json=account, headers=feeder)).status_code == 201
        draft = await eventually(drafted)
        assert draft["status"] == "reserved" and draft["amount_fen"] == 70000
        assert (draft["payee_kind"], draft["payee_ref"]) == ("worker_card", created.json()["person_key"])

        async def counted() -> Any:
            r = await rep.get("/v1/progress")
            return r.json() if r.json()["person_times"] == 1 else None

        progress = await eventually(counted)
        assert progress["target"] == 305000
        metrics = (await rep.get("/metrics")).text
        assert "skillsub_subsidised_person_times 1.0" in metrics


async def allocate(reg: Any, pay: Any, amount_fen: int) -> None:
    """One hr client drafts, another approves, finance releases (maker-checker)."""
    item = (await pay.post("/v1/allocations", headers=await auth(reg, "demo-hr-2"), json={
        "reference": "CZ-2020-001", "source": "unemployment_insurance_surplus", "district": "320612",
        "amount_fen": amount_fen})).json()["item_id"]
    assert (await pay.post(f"/v1/manual-items/{item}/approve", headers=await auth(reg, "demo-hr"))).status_code == 200
    released = await pay.post(f"/v1/manual-items/{item}/release", headers=await auth(reg, "demo-finance"))
    assert released.status_code == 200, released.text


async def payment_status(pay: Any, reg: Any, decision_id: str) -> Any:
    r = await pay.get(f"/v1/decisions/{decision_id}/payment", headers=await auth(reg, "demo-finance"))
    return r.json() if r.status_code == 200 and r.json()["hold"] else None


async def test_same_certificate_twice_gives_same_answer_and_one_effect(settings) -> None:
    async with serve(registry_app(settings)) as reg:
        h = await auth(reg, "demo-institution")
        first = await reg.post("/v1/certificates", json=certificate(), headers=h)
        again = await reg.post("/v1/certificates", json=certificate(), headers=h)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json() == again.json()
        changed = await reg.post("/v1/certificates", json=certificate(level=3), headers=h)
        assert changed.status_code in (409, 422)
        other_content = await reg.post("/v1/certificates", json=certificate(issue_date="2020-06-01"), headers=h)
        assert other_content.status_code == 409
        assert other_content.headers["content-type"].startswith("application/problem+json")
        runtime = reg._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.maker() as s:
            from sqlalchemy import text
            n = await s.scalar(text("SELECT count(*) FROM outbox "
                                    "WHERE envelope->>'type' = 'registry.certificate.issued'"))
        assert n == 1


async def test_malformed_certificate_gets_422_naming_the_field_and_leaves_nothing(settings) -> None:
    async with serve(registry_app(settings)) as reg:
        h = await auth(reg, "demo-institution")
        bad_id = await reg.post("/v1/certificates", json=certificate(resident_id="110105194912310021"), headers=h)
        assert bad_id.status_code == 422
        body = bad_id.json()
        assert body["errors"][0]["field"] == "resident_id"
        missing = await reg.post("/v1/certificates", json={k: v for k, v in certificate().items() if k != "issue_date"},
                                 headers=h)
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "issue_date"
        runtime = reg._transport.app.state.runtime  # type: ignore[attr-defined]
        async with runtime.maker() as s:
            from sqlalchemy import text
            assert await s.scalar(text("SELECT count(*) FROM certificates")) == 0
            assert await s.scalar(text("SELECT count(*) FROM people")) == 0
            assert await s.scalar(text("SELECT count(*) FROM outbox")) == 0
