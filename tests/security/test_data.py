"""Data: the runtime role cannot rewrite the ledger or the audit log nor open another service's
database; a cut-off or rewritten chain is found against the checkpoints other services recorded;
masks cannot be rebuilt; registration, one by one or in bulk, is no existence oracle; every body is capped."""

from __future__ import annotations

import asyncio
import hashlib
import json

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from shared.audit import APPEND_LOCK
from shared.ids import resident_id_check_char
from shared.platform import Platform
from tests.security.conftest import SERVICES, bearer, cli, token


def _dsn(platform: Platform, variable: str) -> dict[str, object]:
    u = make_url(platform.env[variable])
    return {"user": u.username, "database": u.database, "host": u.query.get("host") or u.host, "port": u.port}


def _superuser(platform: Platform, database: str) -> dict[str, object]:
    u = make_url(platform.env["DATABASE_URL"])
    return {"user": u.username, "database": database, "host": u.query.get("host") or u.host, "port": u.port}


def _resident_id(seq: int) -> str:
    first17 = f"32061219850101{seq:03d}"
    return first17 + resident_id_check_char(first17)


def _allocate(platform: Platform, reference: str) -> None:
    """Maker-checker: one hr client drafts the allocation, another approves, finance releases it."""
    pay = platform.url("payments")
    r = httpx.post(f"{pay}/v1/allocations", headers=bearer(token(platform, "demo-hr-2")),
                   json={"reference": reference, "source": "unemployment_insurance_surplus", "district": "320612",
                         "amount_fen": 5_000_000}, timeout=30)
    assert r.status_code == 201, r.text
    item = f"{pay}/v1/manual-items/{r.json()['item_id']}"
    for who, step in (("demo-hr", "approve"), ("demo-finance", "release")):
        done = httpx.post(f"{item}/{step}", headers=bearer(token(platform, who)), timeout=30)
        assert done.status_code == 200, done.text


async def test_the_runtime_role_cannot_rewrite_the_ledger_or_audit_log_nor_open_another_database(
        platform: Platform) -> None:
    _allocate(platform, "CZ-SEC-ROLE-01")
    conn = await asyncpg.connect(**_dsn(platform, "PAYMENTS_DATABASE_URL"))  # type: ignore[arg-type]
    try:
        assert await conn.fetchval("SELECT count(*) FROM ledger_postings") >= 2  # it may read and append
        for sql in ("UPDATE ledger_postings SET amount_fen = amount_fen * 10",
                    "DELETE FROM ledger_postings", "UPDATE ledger_transactions SET ref = 'x'",
                    "DELETE FROM ledger_transactions", "TRUNCATE ledger_postings CASCADE",
                    "UPDATE plan_items SET amount_fen = 1", "DELETE FROM plan_settlements",
                    "UPDATE payee_accounts SET account_cipher = 'x'", "DELETE FROM payee_accounts",
                    "UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                    "INSERT INTO audit_purges VALUES (999999, 'x', 1, now(), 'me')",
                    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"):
            with pytest.raises((asyncpg.InsufficientPrivilegeError,)):
                await conn.execute(sql)
    finally:
        await conn.close()
    for other in ("registry", "eligibility", "reporting"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(**(_dsn(platform, "PAYMENTS_DATABASE_URL") | {"database": f"skillsub_{other}"}))


async def test_cutting_off_the_chains_tail_is_found_against_the_checkpoints_other_services_recorded(
        platform: Platform) -> None:
    _allocate(platform, "CZ-SEC-CHAIN-01")
    _allocate(platform, "CZ-SEC-CHAIN-02")
    pay = await asyncpg.connect(**_superuser(platform, "skillsub_payments"))  # type: ignore[arg-type]
    rep = await asyncpg.connect(**_superuser(platform, "skillsub_reporting"))  # type: ignore[arg-type]
    try:
        head = await pay.fetchval("SELECT max(seq) FROM audit_log")
        assert head is not None and head >= 2
        # reporting consumes payments.events and records the head it sees there
        await _wait_recorded(rep, "payments", head)
        ok = cli(platform, "audit-verify", "payments")
        assert ok.returncode == 0 and "checkpoints recorded by" in ok.stdout, ok.stdout + ok.stderr
        # a superuser (past every grant and trigger) cuts off the tail: each entry left still chains
        await pay.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await pay.execute("DELETE FROM audit_log WHERE seq >= $1", head - 1)
        await pay.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        # The chain left behind is self-consistent (payments may have appended to it since):
        local = httpx.get(f"{platform.url('payments')}/v1/audit/verification",
                          headers=bearer(token(platform, "demo-auditor"))).json()
        assert local["ok"] is True
        # but not with the heads reporting recorded: cut short, or reusing a checkpointed seq.
        cut = cli(platform, "audit-verify", "payments")
        assert cut.returncode == 1 and ("truncated" in cut.stdout or "differs from its checkpoint" in cut.stdout), (
            cut.stdout + cut.stderr)
    finally:
        await pay.close()
        await rep.close()


async def _wait_recorded(recorder: asyncpg.Connection, service: str, seq: int) -> None:
    for _ in range(300):
        got = await recorder.fetchval("SELECT max(seq) FROM audit_checkpoints WHERE service = $1", service)
        if got is not None and got >= seq:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no checkpoint of {service} at seq {seq} was recorded")


async def test_a_chain_rewritten_without_the_key_is_found(platform: Platform) -> None:
    httpx.post(f"{platform.url('registry')}/v1/people", headers=bearer(token(platform, "demo-district")),
               json={"resident_id": _resident_id(41), "district": "320612"}, timeout=30)
    reg = await asyncpg.connect(**_superuser(platform, "skillsub_registry"))  # type: ignore[arg-type]
    rep = await asyncpg.connect(**_superuser(platform, "skillsub_reporting"))  # type: ignore[arg-type]
    try:
        await _wait_recorded(rep, "registry", await reg.fetchval("SELECT max(seq) FROM audit_log"))
        assert cli(platform, "audit-verify", "registry").returncode == 0
        # the rewrite an attacker without the key can make: every hash recomputed as plain SHA-256
        # In one transaction holding the table against writers: an entry the registry appends while
        # the rows are rewritten (a background audit write) would otherwise link to an old hash and
        # show as a broken link instead of the rewrite this test is about.
        async with reg.transaction():
            # ...and the appenders' advisory lock: an append reads the head before it inserts, and a
            # head read before the table lock would link its entry to the old hash.
            await reg.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
            await reg.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
            await reg.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            rows = await reg.fetch("SELECT * FROM audit_log ORDER BY seq")
            prev = "0" * 64
            for r in rows:
                body = json.dumps([prev, r["seq"], r["at"].isoformat(), "someone-else", r["role"], r["action"],
                                   r["resource"], r["outcome"], r["request_id"], json.loads(r["detail"])],
                                  sort_keys=True, ensure_ascii=False, default=str)
                digest = hashlib.sha256(body.encode()).hexdigest()
                await reg.execute("UPDATE audit_log SET actor = 'someone-else', prev_hash = $1, hash = $2, "
                                  "alg = 'sha256' WHERE seq = $3", prev, "tmp" + digest, r["seq"])
                prev = digest
            await reg.execute("UPDATE audit_log SET hash = substr(hash, 4)")
            await reg.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        found = cli(platform, "audit-verify", "registry")
        assert found.returncode == 1 and "rewritten" in found.stdout, found.stdout + found.stderr
    finally:
        await reg.close()
        await rep.close()


def test_roles_without_id_access_get_a_mask_that_cannot_be_rebuilt(platform: Platform) -> None:
    rid = _resident_id(42)
    district = bearer(token(platform, "demo-district"))
    made = httpx.post(f"{platform.url('registry')}/v1/people", headers=district, timeout=30,
                      json={"resident_id": rid, "district": "320612"}).json()
    person = httpx.get(f"{platform.url('registry')}/v1/people/{made['person_key']}", headers=district).json()
    assert person["resident_id"] is None and person["birth_date"] is None
    assert person["resident_id_masked"] == "*" * 14 + rid[-4:]
    assert rid[:4] not in person["resident_id_masked"] and "19850101" not in json.dumps(person)
    seen = httpx.get(f"{platform.url('registry')}/v1/people/{made['person_key']}",
                     headers=bearer(token(platform, "demo-bureau"))).json()
    assert seen["resident_id"] == rid and seen["birth_date"] == "1985-01-01"  # the ID grant sees it


def test_registering_a_person_does_not_tell_whether_they_were_known(platform: Platform) -> None:
    district = bearer(token(platform, "demo-district"))
    body = {"resident_id": _resident_id(43), "district": "320612"}
    first = httpx.post(f"{platform.url('registry')}/v1/people", headers=district, json=body, timeout=30)
    again = httpx.post(f"{platform.url('registry')}/v1/people", headers=district, json=body, timeout=30)
    assert (first.status_code, first.json()) == (again.status_code, again.json())


def test_a_bulk_upload_of_people_does_not_tell_which_were_known_and_the_audit_log_does(platform: Platform) -> None:
    reg, district = platform.url("registry"), bearer(token(platform, "demo-district"))
    known, new = [_resident_id(s) for s in (50, 51)], [_resident_id(s) for s in (52, 53)]
    for rid in known:  # registered before, one by one
        r = httpx.post(f"{reg}/v1/people", headers=district, json={"resident_id": rid, "district": "320612"})
        assert r.status_code == 200, r.text

    def upload(ids: list[str]) -> httpx.Response:
        body = "\n".join(json.dumps({"resident_id": rid, "district": "320612"}) for rid in ids).encode()
        r = httpx.post(f"{reg}/v1/bulk/people", content=body, timeout=60,
                       headers=district | {"content-type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        return r

    def shape(r: httpx.Response) -> tuple[object, ...]:  # everything but the per-person keys
        lines = [{k: v for k, v in json.loads(line).items() if k != "id"} for line in r.text.splitlines()]
        return lines, r.headers["X-Lines-Ok"], r.headers["X-Lines-Error"], r.headers["content-type"]

    auditor = bearer(token(platform, "demo-auditor"))
    after = max((e["seq"] for e in httpx.get(f"{reg}/v1/audit?limit=1000", headers=auditor).json()), default=0)
    known_answer, new_answer = upload(known), upload(new)
    assert shape(known_answer) == shape(new_answer)
    assert [json.loads(line)["status"] for line in new_answer.text.splitlines()] == ["accepted", "accepted"]
    assert upload(new).text == new_answer.text  # the replay, every person now known: byte for byte
    entries = httpx.get(f"{reg}/v1/audit?after_seq={after}", headers=auditor).json()
    counts = [e["detail"]["bulk_people"] for e in entries if e["action"] == "POST /v1/bulk/people"]
    assert [(c["registered"], c["already_registered"]) for c in counts] == [(0, 2), (2, 0), (0, 2)]
    assert all(e["actor"] == "demo-district" for e in entries if e["action"] == "POST /v1/bulk/people")


def test_every_service_refuses_an_oversize_body_with_413_problem_json(platform: Platform) -> None:
    big = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    paths = {"registry": "/v1/certificates", "eligibility": "/v1/dry-run", "payments": "/v1/allocations",
             "reporting": "/v1/reports"}
    for service in SERVICES:
        headers = bearer(token(platform, "demo-bureau")) | {"content-type": "application/json"}
        declared = httpx.post(platform.url(service) + paths[service], content=big, headers=headers, timeout=60)
        assert declared.status_code == 413, (service, declared.text[:200])
        assert declared.headers["content-type"].startswith("application/problem+json")

        def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted as it arrives
            for i in range(0, len(big), 65536):
                yield big[i:i + 65536]

        streamed = httpx.post(platform.url(service) + paths[service], content=chunks(), headers=headers, timeout=60)
        assert streamed.status_code == 413, (service, streamed.text[:200])
