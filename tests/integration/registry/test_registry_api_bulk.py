"""Bulk NDJSON: a result per line, good lines kept, bad ones reported, replay changes nothing."""

from __future__ import annotations

import json

import pytest

from services.registry.main import create_app
from tests.conftest import serve
from tests.integration.registry.registry_helpers import auth, certificate, resident_id, scalar

pytestmark = pytest.mark.usefixtures("drop_test_databases")
ND = {"Content-Type": "application/x-ndjson"}


def ndjson(*items: object) -> bytes:
    return "\n".join(i if isinstance(i, str) else json.dumps(i) for i in items).encode()


def results(response) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [json.loads(line) for line in response.text.splitlines()]


async def test_bulk_people_keeps_good_lines_reports_bad_ones_and_a_replay_answers_the_same(settings) -> None:
    async with serve(create_app(settings)) as reg:
        district = await auth(reg, "demo-district")
        body = ndjson({"resident_id": resident_id(1), "district": "320612"},
                      {"resident_id": resident_id(1)[:17] + "9", "district": "320612"}, "{not json",
                      {"resident_id": resident_id(2), "district": "320681"},
                      {"resident_id": resident_id(3), "district": "320612"})
        first = results(await reg.post("/v1/bulk/people", content=body, headers=district | ND))
        assert [(r["line"], r["status"]) for r in first] == [(1, "accepted"), (2, "error"), (3, "error"),
                                                              (4, "error"), (5, "accepted")]
        assert first[1]["field"] == "resident_id" and "forbidden" in first[3]["reason"]
        outbox = await scalar(reg, "SELECT count(*) FROM outbox")
        replay = results(await reg.post("/v1/bulk/people", content=body, headers=district | ND))
        assert replay == first  # no existence oracle: new or already registered, the same answer
        assert await scalar(reg, "SELECT count(*) FROM outbox") == outbox == 2
        assert await scalar(reg, "SELECT count(*) FROM people") == 2


async def test_bulk_facts_and_certificates_check_each_line_and_its_owner(settings) -> None:
    async with serve(create_app(settings)) as reg:
        social = await auth(reg, "demo-feeder-social_insurance")
        fact = {"resident_id": resident_id(1), "kind": "unemployment_insurance_months", "valid_from": "2020-01-01",
                "attributes": {"months": 40}}
        facts = results(await reg.post("/v1/bulk/facts", headers=social | ND, content=ndjson(
            fact, fact | {"kind": "veteran", "attributes": {}}, fact | {"attributes": {}}, fact)))
        assert [r["status"] for r in facts] == ["created", "error", "error", "unchanged"]
        assert (facts[1]["field"], facts[2]["field"]) == ("kind", "attributes.months")
        inst = await auth(reg, "demo-institution")
        certs = ndjson(certificate(1), certificate(2, issuer_code="91320600MA1MXXXX0B"),
                       certificate(3, level=3), certificate(1, issue_date="2020-06-01"), certificate(4))
        got = results(await reg.post("/v1/bulk/certificates", content=certs, headers=inst | ND))
        assert [r["status"] for r in got] == ["created", "error", "error", "error", "created"]
        assert [r.get("field") for r in got[1:4]] == ["issuer_code", "level", "number"]
        replay = results(await reg.post("/v1/bulk/certificates", content=certs, headers=inst | ND))
        assert [r["status"] for r in replay] == ["unchanged", "error", "error", "error", "unchanged"]
        assert await scalar(reg, "SELECT count(*) FROM outbox WHERE envelope->>'type' = "
                                 "'registry.certificate.issued'") == 2


async def test_a_bulk_chunk_mixing_lines_with_and_without_the_holders_name_keeps_every_masked_name(settings) -> None:
    async with serve(create_app(settings)) as reg:
        inst = await auth(reg, "demo-institution")
        # The first line has no name: the multi-row insert took its columns from it and stored no
        # masked name for any line of the chunk.
        certs = ndjson(*(certificate(p, **({"holder_name": "张三丰"} if p % 2 == 0 else {})) for p in range(1, 7)))
        got = results(await reg.post("/v1/bulk/certificates", content=certs, headers=inst | ND))
        assert [r["status"] for r in got] == ["created"] * 6
        assert await scalar(reg, "SELECT count(*) FROM certificates WHERE holder_name_masked IS NOT NULL") == 3
        assert await scalar(reg, "SELECT count(*) FROM certificates WHERE holder_name_masked = '张**'") == 3
