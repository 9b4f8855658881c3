"""Every state change leaves an attributed, hash-chained audit entry; tampering is detected."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.registry.main import create_app as registry_app
from shared import audit
from shared.db import make_engine
from tests.conftest import serve
from tests.integration.test_backbone_pipeline import auth, certificate

pytestmark = pytest.mark.usefixtures("drop_test_databases")


async def entries(app) -> list[dict]:  # type: ignore[no-untyped-def]
    async with app.state.runtime.maker() as session:
        rows = (await session.execute(sa.select(audit.audit_log).order_by(audit.audit_log.c.seq))).mappings()
        return [dict(r) for r in rows]


async def test_a_write_is_audited_in_its_own_transaction_with_actor_role_and_request_id(settings) -> None:
    app = registry_app(settings)
    async with serve(app) as reg:
        before = len(await entries(app))
        headers = await auth(reg, "demo-institution") | {"X-Request-ID": "req-42"}
        assert (await reg.post("/v1/certificates", json=certificate(), headers=headers)).status_code == 201
        rejected = await reg.post("/v1/certificates", json=certificate(resident_id="110105194912310021"),
                                  headers=headers)
        assert rejected.status_code == 422
        log = (await entries(app))[before:]
        assert [(e["actor"], e["role"], e["action"], e["request_id"]) for e in log] == [
            ("demo-institution", "institution", "POST /v1/certificates", "req-42")]


async def test_only_auditors_read_the_log_and_the_chain_verifies(settings) -> None:
    app = registry_app(settings)
    async with serve(app) as reg:
        await reg.post("/v1/certificates", json=certificate(), headers=await auth(reg, "demo-institution"))
        assert (await reg.get("/v1/audit")).status_code == 401
        assert (await reg.get("/v1/audit", headers=await auth(reg, "demo-institution"))).status_code == 403
        auditor = await auth(reg, "demo-auditor")
        listed = await reg.get("/v1/audit", headers=auditor)
        assert listed.status_code == 200 and any(e["actor"] == "demo-institution" for e in listed.json())
        check = await reg.get("/v1/audit/verification", headers=auditor)
        assert check.json()["ok"] is True and check.json()["entries"] >= 1


async def test_the_log_refuses_edits_and_verification_finds_an_edit_made_behind_its_back(
        settings, pg_server_url) -> None:
    app = registry_app(settings)
    async with serve(app) as reg:
        headers = await auth(reg, "demo-institution")
        for n in range(3):
            await reg.post("/v1/certificates", json=certificate(number=f"Y{n:014d}4{n:06d}"), headers=headers)
        maker = app.state.runtime.maker  # the runtime role: no UPDATE, DELETE or TRUNCATE at all
        for sql in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
            async with maker() as session:
                with pytest.raises(Exception, match="permission denied"):
                    async with session.begin():
                        await session.execute(sa.text(sql))
        owner = make_engine(settings.migration_url_for("registry"), pool_size=1)  # the owner: the triggers
        try:
            for sql in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
                with pytest.raises(Exception, match="append-only"):
                    async with owner.begin() as conn:
                        await conn.execute(sa.text(sql))
            async with owner.begin() as conn:  # the owner disables the guard (a superuser could too)
                await conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
                seq = (await conn.execute(sa.text("SELECT max(seq) - 1 FROM audit_log"))).scalar_one()
                await conn.execute(sa.text("UPDATE audit_log SET actor = 'nobody' WHERE seq = :s"), {"s": seq})
            async with maker() as session:
                result = await audit.verify(session)
            assert (result.ok, result.first_bad_seq) == (False, seq)
            async with owner.begin() as conn:
                await conn.execute(sa.text("DELETE FROM audit_log WHERE seq = :s"), {"s": seq})
            async with maker() as session:
                result = await audit.verify(session)
            assert (result.ok, result.problem) == (False, "an entry is missing")
        finally:
            await owner.dispose()


async def test_only_the_owner_purges_past_retention_and_the_purge_is_recorded_and_verifiable(settings) -> None:
    import datetime as dt

    from shared.db import make_sessionmaker

    app = registry_app(settings)
    key = audit.audit_key(settings.skillsub_audit_key, "registry")
    async with serve(app) as reg:
        owner = make_engine(settings.migration_url_for("registry"), pool_size=1)
        try:
            old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
            prev, rows = audit.GENESIS, []
            for seq in (1, 2, 3):  # three entries from over a year ago, chained and keyed as written then
                e = audit.AuditEntry("demo-institution", "institution", "POST /v1/certificates", "/v1/certificates",
                                     "committed", f"old-{seq}", {})
                at = old + dt.timedelta(minutes=seq)
                digest = audit.entry_hash(key, prev, seq, at, e)
                rows.append({"seq": seq, "at": at, "actor": e.actor, "role": e.role, "action": e.action,
                             "resource": e.resource, "outcome": e.outcome, "request_id": e.request_id,
                             "detail": {}, "prev_hash": prev, "hash": digest, "alg": audit.KEYED})
                prev = digest
            async with owner.begin() as conn:
                await conn.execute(sa.insert(audit.audit_log), rows)
            await reg.post("/v1/certificates", json=certificate(), headers=await auth(reg, "demo-institution"))
            async with owner.begin() as conn:  # a purge record alone does not let a recent entry go
                await conn.execute(sa.insert(audit.audit_purges).values(through_seq=4, last_hash="x", entries=4,
                                                                        purged_by="nobody"))
                with pytest.raises(Exception, match="append-only"):
                    async with conn.begin_nested():
                        await conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 4"))
                await conn.rollback()
            async with make_sessionmaker(owner, audit_key=key)() as session, session.begin():
                assert await audit.purge(session, 30, "ops-wang") == 3  # 30 asked, 180 days kept at least
            async with app.state.runtime.maker() as session:
                result = await audit.verify(session)
                left = (await session.execute(sa.select(audit.audit_log.c.seq, audit.audit_log.c.action)
                                              .order_by(audit.audit_log.c.seq))).all()
                purges = (await session.execute(sa.select(audit.audit_purges))).mappings().all()
            assert result.ok, result
            assert [s for s, _ in left][0] == 4 and left[-1].action == "purge audit log"
            assert [(p["through_seq"], p["purged_by"], p["entries"]) for p in purges] == [(3, "ops-wang", 3)]
        finally:
            await owner.dispose()
