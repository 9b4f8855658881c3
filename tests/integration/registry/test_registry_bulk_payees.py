"""Bulk payee accounts: each line judged as POST /v1/payee-accounts judges it, good lines kept,
bad ones reported with the field, a replay changes nothing, numbers never shown nor logged."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import text

from services.registry import payees
from services.registry.handlers import content_hash
from services.registry.main import create_app
from shared.events import derived_event_id
from tests.accounts import bank_account, card_number
from tests.conftest import serve
from tests.integration.registry.registry_helpers import auth, resident_id, scalar

pytestmark = pytest.mark.usefixtures("drop_test_databases")
ND = {"Content-Type": "application/x-ndjson"}
FEEDER, BUREAU = "demo-feeder-employment_service", "demo-bureau"
ENTERPRISE = "91320612MA1N00001G"
COMPANY = {"payee_kind": "enterprise", "credit_code": ENTERPRISE, "account_kind": "bank_account",
           "account_number": bank_account(1), "account_name": "南通示范机械有限公司", "bank_name": "中国银行南通分行"}


def card(seq: int, number: int | None = None) -> dict[str, Any]:
    return {"payee_kind": "worker", "resident_id": resident_id(seq), "account_kind": "social_security_card",
            "account_number": card_number(seq if number is None else number)}


def ndjson(*items: object) -> bytes:
    return "\n".join(i if isinstance(i, str) else json.dumps(i, ensure_ascii=False) for i in items).encode()


def answers(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


async def events(reg: Any) -> list[tuple[str, dict[str, Any]]]:
    runtime = reg._transport.app.state.runtime
    async with runtime.maker() as s:
        rows = await s.execute(text("SELECT event_id::text, envelope::text FROM outbox WHERE envelope->>'type' = "
                                    "'registry.payee_account.recorded' ORDER BY id"))
        return [(r[0], json.loads(r[1])["payload"]) for r in rows]


async def test_good_lines_are_recorded_once_and_a_replay_of_the_upload_changes_nothing(
        settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(create_app(settings.model_copy(update={"skillsub_bulk_chunk_lines": 2}))) as reg:
        feeder = await auth(reg, FEEDER)
        audit_before = await scalar(reg, "SELECT count(*) FROM audit_log")
        body = ndjson(card(1), card(2), card(1), card(3), card(2, number=5))
        first = await reg.post("/v1/bulk/payee-accounts", content=body, headers=feeder | ND)
        assert first.status_code == 200, first.text
        got = answers(first)
        assert [(r["line"], r["status"]) for r in got] == [
            (1, "created"), (2, "created"), (3, "unchanged"), (4, "created"), (5, "error")]
        assert got[4]["field"] == "resident_id" and "line 2" in got[4]["reason"]  # one account per payee per upload
        assert (first.headers["X-Lines-Ok"], first.headers["X-Lines-Error"]) == ("4", "1")
        assert got[0]["id"] == got[2]["id"] and len(got[0]["id"]) == 64  # the person key, never the ID
        recorded = await events(reg)
        assert [(e["payee_ref"], e["revision"]) for _, e in recorded] == [(got[i]["id"], 1) for i in (0, 1, 3)]
        assert recorded[0][0] == str(derived_event_id(
            "payee-account", content_hash({"kind": "worker", "ref": got[0]["id"], "revision": 1})))
        assert await scalar(reg, "SELECT count(*) FROM audit_log") - audit_before == 3  # one entry per chunk
        replay = await reg.post("/v1/bulk/payee-accounts", content=body, headers=feeder | ND)
        assert [r["status"] for r in answers(replay)] == ["unchanged"] * 4 + ["error"]
        assert await events(reg) == recorded
        assert await scalar(reg, "SELECT count(*) FROM payee_accounts") == 3
        audit = json.dumps(await scalar(reg, "SELECT json_agg(detail) FROM audit_log"), ensure_ascii=False)
        numbers = [card_number(i) for i in (1, 2, 3, 5)]
        shown = first.text + replay.text + audit + json.dumps([e for _, e in recorded]) + caplog.text
        assert caplog.records and not [n for n in numbers if n in shown]  # encrypted, masked or absent
        assert recorded[0][1]["account_masked"] == card_number(1)[:4] + "*" * 11 + card_number(1)[-4:]


async def test_each_line_needs_its_payees_authority(settings) -> None:
    async with serve(create_app(settings)) as reg:
        body = ndjson(card(1), COMPANY)
        by_feeder = answers(await reg.post("/v1/bulk/payee-accounts", content=body,
                                           headers=await auth(reg, FEEDER) | ND))
        assert [(r["status"], r.get("field")) for r in by_feeder] == [("created", None), ("error", "payee_kind")]
        assert "only the bureau" in by_feeder[1]["reason"]
        by_bureau = answers(await reg.post("/v1/bulk/payee-accounts", content=body,
                                           headers=await auth(reg, BUREAU) | ND))
        assert [(r["status"], r.get("field")) for r in by_bureau] == [("error", "payee_kind"), ("created", None)]
        assert "only the employment-service feeder" in by_bureau[0]["reason"] and by_bureau[1]["id"] == ENTERPRISE
        by_district = answers(await reg.post("/v1/bulk/payee-accounts", content=body,
                                             headers=await auth(reg, "demo-district") | ND))
        assert [r["field"] for r in by_district] == ["payee_kind", "payee_kind"]
        assert [e["payee_kind"] for _, e in await events(reg)] == ["worker", "enterprise"]


async def test_bad_lines_are_refused_naming_the_field_while_the_others_are_recorded(settings) -> None:
    bad_luhn = card(1) | {"account_number": card_number(1)[:-1] + str((int(card_number(1)[-1]) + 1) % 10)}
    async with serve(create_app(settings)) as reg:
        got = answers(await reg.post("/v1/bulk/payee-accounts", headers=await auth(reg, FEEDER) | ND, content=ndjson(
            bad_luhn, card(2), card(3) | {"resident_id": "110105194912310021"},
            card(4) | {"account_kind": "bank_account"}, "{not json", card(5) | {"account_name": "张三"}, card(6))))
        assert [(r["status"], r.get("field")) for r in got] == [
            ("error", "account_number"), ("created", None), ("error", "resident_id"), ("error", "account_kind"),
            ("error", "line"), ("error", "line"), ("created", None)]
        bureau = await auth(reg, BUREAU)
        orgs = answers(await reg.post("/v1/bulk/payee-accounts", headers=bureau | ND, content=ndjson(
            COMPANY | {"credit_code": "91110000802100433!"}, COMPANY | {"account_number": "12AB5678"}, COMPANY)))
        assert [(r["status"], r.get("field")) for r in orgs] == [
            ("error", "credit_code"), ("error", "account_number"), ("created", None)]
        assert card_number(1) not in json.dumps(got)
        assert await scalar(reg, "SELECT count(*) FROM payee_accounts") == 3 and len(await events(reg)) == 3
        assert await scalar(reg, "SELECT count(*) FROM people") == 2  # refused lines register nobody


async def test_the_single_route_and_the_bulk_route_agree(settings) -> None:
    async with serve(create_app(settings)) as reg:
        feeder = await auth(reg, FEEDER)
        [bulk] = answers(await reg.post("/v1/bulk/payee-accounts", content=ndjson(card(1)), headers=feeder | ND))
        single = await reg.post("/v1/payee-accounts", json=card(1), headers=feeder)
        assert single.status_code == 200 and single.json()["payee_ref"] == bulk["id"]  # unchanged
        assert (await reg.post("/v1/payee-accounts", json=card(2), headers=feeder)).status_code == 201
        [again] = answers(await reg.post("/v1/bulk/payee-accounts", content=ndjson(card(2)), headers=feeder | ND))
        assert again["status"] == "unchanged"
        changed = await reg.post("/v1/payee-accounts", json=card(1, number=9), headers=feeder)
        assert changed.status_code == 201 and changed.json()["revision"] == 2
        [back] = answers(await reg.post("/v1/bulk/payee-accounts", content=ndjson(card(1)), headers=feeder | ND))
        assert back["status"] == "created"
        read = await reg.get(f"/v1/payee-accounts/worker/{bulk['id']}", headers=await auth(reg, "demo-auditor"))
        assert (read.json()["revision"], read.json()["account_masked"][-4:]) == (3, card_number(1)[-4:])
        assert [(e["payee_ref"] == bulk["id"], e["revision"]) for _, e in await events(reg)] == [
            (True, 1), (False, 1), (True, 2), (True, 3)]


async def test_a_chunk_that_fails_leaves_nothing_of_itself_and_a_replay_completes_the_upload(
        settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve(create_app(settings.model_copy(update={"skillsub_bulk_chunk_lines": 2}))) as reg:
        feeder = await auth(reg, FEEDER)
        taken = (await reg.post("/v1/payee-accounts", json=card(3), headers=feeder)).json()["payee_ref"]
        read_in_force = payees._in_force

        async def raced(session: Any, keys: set[tuple[str, str]]) -> Any:
            # As if another request recorded worker 3 after this chunk read the rows in force.
            return {k: v for k, v in (await read_in_force(session, keys)).items() if k[1] != taken}

        monkeypatch.setattr(payees, "_in_force", raced)
        body = ndjson(card(1), card(2), card(4), card(3, number=8))
        failed = await reg.post("/v1/bulk/payee-accounts", content=body, headers=feeder | ND)
        assert failed.status_code == 409 and failed.json()["errors"][0]["field"] == "payee_ref"
        assert await scalar(reg, "SELECT count(*) FROM payee_accounts") == 3  # 3 (single), 1 and 2
        assert await scalar(reg, "SELECT count(*) FROM people") == 3  # worker 4 left no trace either
        assert [e["revision"] for _, e in await events(reg)] == [1, 1, 1]
        monkeypatch.undo()
        replay = answers(await reg.post("/v1/bulk/payee-accounts", content=body, headers=feeder | ND))
        assert [r["status"] for r in replay] == ["unchanged", "unchanged", "created", "created"]
        assert [e["revision"] for _, e in await events(reg)] == [1, 1, 1, 1, 2]
