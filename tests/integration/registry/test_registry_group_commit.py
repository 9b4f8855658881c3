"""POST /v1/certificates group commit: concurrent requests share transactions, each answered only
after the commit that holds it, and one request's failure is its own."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.registry.main import create_app
from tests.conftest import serve
from tests.integration.registry.registry_helpers import auth, certificate, outbox_types, scalar

pytestmark = pytest.mark.usefixtures("drop_test_databases")
ISSUED = "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'registry.certificate.issued'"


async def test_concurrent_certificates_share_transactions_and_each_answer_follows_its_commit(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        groups = reg._transport.app.state.runtime.state["certificate_groups"]  # type: ignore[attr-defined]
        audit_before = await scalar(reg, "SELECT count(*) FROM audit_log")
        seen_in_db: list[bool] = []

        async def push(seq: int) -> int:
            r = await reg.post("/v1/certificates", json=certificate(seq), headers=inst)
            # Answered: the certificate must already be committed, visible to any other session.
            seen_in_db.append(await scalar(reg, f"SELECT count(*) FROM certificates WHERE certificate_id = "
                                                f"'{r.json()['certificate_id']}'") == 1)
            return r.status_code

        codes = await asyncio.gather(*(push(seq) for seq in range(1, 61)))
        assert codes == [201] * 60 and all(seen_in_db)
        assert groups.groups < 60  # they shared transactions
        assert await scalar(reg, ISSUED) == 60
        assert await scalar(reg, "SELECT count(*) FROM audit_log") - audit_before == 60  # one entry per request
        replay = await asyncio.gather(*(reg.post("/v1/certificates", json=certificate(seq), headers=inst)
                                        for seq in range(1, 61)))
        assert [r.status_code for r in replay] == [200] * 60
        assert await scalar(reg, ISSUED) == 60 and await scalar(reg, "SELECT count(*) FROM certificates") == 60


async def test_a_number_sent_twice_with_different_content_in_one_group_is_one_requests_409(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        bodies = [certificate(1), certificate(2), certificate(1, issue_date="2020-06-01"), certificate(3)]
        got = await asyncio.gather(*(reg.post("/v1/certificates", json=b, headers=inst) for b in bodies))
        assert sorted(r.status_code for r in got) == [201, 201, 201, 409]
        conflict = next(r for r in got if r.status_code == 409)
        assert conflict.headers["content-type"].startswith("application/problem+json")
        assert conflict.json()["errors"][0]["field"] == "number"
        assert await scalar(reg, ISSUED) == 3 and await scalar(reg, "SELECT count(*) FROM certificates") == 3


async def test_a_request_the_database_refuses_fails_alone_and_the_others_in_its_group_commit(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        refused = certificate(7)["number"]
        owner = create_async_engine(settings.migration_url_for("registry"))
        async with owner.begin() as conn:  # a database rule this one certificate breaks
            await conn.execute(text(f"""CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.number = '{refused}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"""))
            await conn.execute(text("CREATE TRIGGER refuse_one BEFORE INSERT ON certificates FOR EACH ROW "
                                    "EXECUTE FUNCTION refuse_one()"))
        await owner.dispose()
        got = await asyncio.gather(*(reg.post("/v1/certificates", json=certificate(seq), headers=inst)
                                     for seq in range(1, 13)))
        codes = {seq: r.status_code for seq, r in zip(range(1, 13), got, strict=True)}
        assert codes.pop(7) == 500 and set(codes.values()) == {201}
        assert await scalar(reg, "SELECT count(*) FROM certificates") == 11
        assert await scalar(reg, ISSUED) == 11  # nothing half-written for the refused one
        assert await scalar(reg, f"SELECT count(*) FROM certificates WHERE number = '{refused}'") == 0


async def test_a_group_stages_each_new_persons_event_once_before_their_certificates_and_none_for_known_people(
        settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        known = await reg.post("/v1/certificates", json=certificate(1), headers=inst)  # person 1 registered
        assert known.status_code == 201
        # Two certificates each for people 1-4, every second one with the holder's name: one group
        # mixes both forms of the row (the ORM's multi-row insert took its columns from the first
        # row and dropped every masked name when that row had none).
        bodies = [certificate(p, number=f"Y{p:014d}4{n:06d}", **({"holder_name": "张三"} if n % 2 else {}))
                  for p in range(1, 5) for n in (p * 10, p * 10 + 1)]
        got = await asyncio.gather(*(reg.post("/v1/certificates", json=b, headers=inst) for b in bodies))
        assert [r.status_code for r in got] == [201] * 8
        assert await scalar(reg, "SELECT count(*) FROM certificates WHERE holder_name_masked IS NOT NULL") == 4
        events = await outbox_types(reg)
        registered = [k for t, k in events if t == "registry.person.registered"]
        assert len(registered) == len(set(registered)) == 4  # people 1-4, each once
        for key in registered:  # a person's registration is staged before any of their certificates
            theirs = [t for t, k in events if k == key]
            assert theirs[0] == "registry.person.registered"
        assert await scalar(reg, ISSUED) == 9
        assert await scalar(reg, "SELECT count(*) FROM people") == 4
