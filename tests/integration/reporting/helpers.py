"""Feed reporting real events over the real broker, as the other services would."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from shared.events import (
    CertificateIssuedV1,
    CertificateRevokedV1,
    DisbursementDraftedV1,
    DisbursementStatusChangedV1,
    Envelope,
    PersonFactRecordedV1,
    SubsidyDecidedV1,
    new_envelope,
)
from shared.kafka import make_producer
from shared.settings import Settings


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def publish(settings: Settings, envelopes: Sequence[Envelope]) -> None:
    producer = make_producer(settings.kafka_bootstrap_servers or "")
    await producer.start()
    try:
        for env in envelopes:
            await producer.send_and_wait(settings.kafka_topic_prefix + env.topic, key=env.key.encode(),
                                         value=env.model_dump_json().encode())
    finally:
        await producer.stop()


def decided(person: str, clause: str, outcome: str, amount: int, on: str, *,
            district: str = "320612", supersedes: uuid.UUID | None = None,
            groups: Sequence[str] = ("employee",), department: str | None = None) -> Envelope:
    payload = SubsidyDecidedV1(
        decision_id=uuid.uuid4(), person_key=person, trigger_id=uuid.uuid4(), trigger_kind="certificate",
        clause=clause, outcome=outcome, amount_fen=amount, clauses_cited=[clause],
        decided_on=dt.date.fromisoformat(on), year=int(on[:4]), district=district,
        target_groups=list(groups), supersedes=supersedes, department=department)
    return new_envelope(payload, key=person, producer="eligibility")


def disbursement(kind: str, did: uuid.UUID, status: str, amount: int, *, source: str,
                 district: str = "320612", clause: str = "四.2", person: str = "p-1") -> Envelope:
    cls = DisbursementDraftedV1 if kind == "drafted" else DisbursementStatusChangedV1
    payload = cls(disbursement_id=did, decision_id=uuid.uuid4(), person_key=person, clause=clause,
                  amount_fen=amount, funding_source=source, district=district, status=status)
    return new_envelope(payload, key=person, producer="payments")


def certificate(person: str, level: int | None, *, kind: str = "skill_level", on: str = "2020-05-20",
                cert: uuid.UUID | None = None) -> Envelope:
    payload = CertificateIssuedV1(
        certificate_id=cert or uuid.uuid4(), person_key=person, number="Y" + "0" * 21, kind=kind,
        occupation_code="6-18-01-01", level=level, issue_date=dt.date.fromisoformat(on),
        issuer_code="52320613MJ0000003P", issued_in_nantong=True)
    return new_envelope(payload, key=person, producer="registry")


def revoked(person: str, cert: uuid.UUID, on: str) -> Envelope:
    payload = CertificateRevokedV1(certificate_id=cert, person_key=person,
                                   revoked_on=dt.date.fromisoformat(on), reason="fraud")
    return new_envelope(payload, key=person, producer="registry")


def employed(person: str, district: str, on: str = "2019-06-01") -> Envelope:
    payload = PersonFactRecordedV1(fact_id=uuid.uuid4(), person_key=person, kind="employment",
                                   valid_from=dt.date.fromisoformat(on), source="employment_service",
                                   attributes={"district": district})
    return new_envelope(payload, key=person, producer="registry")
