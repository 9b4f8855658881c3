"""Helpers: registry envelopes published straight to the (test-prefixed) registry topic, polling,
and reads of eligibility's current decisions."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from services.eligibility import store
from shared.auth import AuthPrincipal, issue_token
from shared.events import (
    ApprenticeshipYearCompletedV1,
    CatalogStandardPublishedV1,
    CertificateIssuedV1,
    CertificateRevokedV1,
    Envelope,
    PersonFactRecordedV1,
    TrainingClassRecordedV1,
    derived_event_id,
    new_envelope,
)
from shared.kafka import make_producer
from shared.settings import Settings

LATHE = "6-18-01-01"
DISTRICT = "320612"


def token(settings: Settings, role: str, client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, AuthPrincipal(client, role))}"}


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
    """What the registry's relay does: one message per envelope, keyed by its key."""
    producer: AIOKafkaProducer = make_producer(settings.kafka_bootstrap_servers or "")
    await producer.start()
    try:
        topic = f"{settings.kafka_topic_prefix}registry.events"
        for env in envelopes:
            await producer.send(topic, key=env.key.encode(), value=env.model_dump_json().encode())
        await producer.flush()
    finally:
        await producer.stop()


def env(payload: Any, key: str, *ident: object) -> Envelope:
    return new_envelope(payload, key=key, producer="registry",
                        event_id=derived_event_id(payload.TYPE, key, *ident))


def catalog(code: str = LATHE, level: int = 4, training: int = 120000, appraisal: int = 20000) -> Envelope:
    p = CatalogStandardPublishedV1(catalog_version="t-2019", occupation_code=code, occupation_edition="2015",
                                   occupation_name="车工", level=level, training_fen=training,
                                   appraisal_fen=appraisal, valid_from=dt.date(2019, 1, 1))
    return env(p, code, level)


def fact(person: str, kind: str, valid_from: str, ident: str = "", **attributes: Any) -> Envelope:
    fid = derived_event_id("fact", person, kind, valid_from, ident)
    p = PersonFactRecordedV1(fact_id=fid, person_key=person, kind=kind, valid_from=dt.date.fromisoformat(valid_from),
                             source="test", attributes=attributes)
    return env(p, person, fid)


def employment(person: str, hire: str = "2019-03-01", months: int = 36) -> Envelope:
    return fact(person, "employment", hire, employer_code="91110000802100433B", hire_date=hire,
                contract_months=months)


def certificate(person: str, seq: int, *, code: str = LATHE, level: int = 4, issued: str = "2020-05-20",
                training_kind: str | None = None, start: str | None = None,
                class_id: uuid.UUID | None = None) -> tuple[Envelope, uuid.UUID]:
    cid = derived_event_id("cert", person, seq)
    p = CertificateIssuedV1(certificate_id=cid, person_key=person, number=f"Y{seq:014d}{level}{seq:06d}",
                            kind="skill_level", occupation_code=code, level=level,
                            issue_date=dt.date.fromisoformat(issued), issuer_code="91350100M000100Y43",
                            issued_in_nantong=True, district=DISTRICT, training_kind=training_kind,
                            training_start_date=dt.date.fromisoformat(start) if start else None,
                            class_id=class_id)
    return env(p, person, cid), cid


def revoke(person: str, cid: uuid.UUID, on: str = "2020-09-01") -> Envelope:
    p = CertificateRevokedV1(certificate_id=cid, person_key=person, revoked_on=dt.date.fromisoformat(on),
                             reason="fraud")
    return env(p, person, cid, "revoked")


def apprentice_class(level: int = 4, department: str | None = None) -> tuple[Envelope, uuid.UUID]:
    class_id = derived_event_id("class", "apprentice", level)
    p = TrainingClassRecordedV1(class_id=class_id, institution_id="91320600MA1000000X", class_code=f"A{level}",
                                kind="new_apprenticeship", level=level, start_date=dt.date(2019, 9, 1),
                                end_date=dt.date(2020, 8, 31), planned_trainees=30, enrolled_trainees=30,
                                hours=400, online_hours=0, district=DISTRICT, department=department)
    return env(p, str(class_id), "recorded"), class_id


def apprentice_year(person: str, class_id: uuid.UUID, year: int = 1) -> tuple[Envelope, uuid.UUID]:
    completion = derived_event_id("completion", person, class_id, year)
    p = ApprenticeshipYearCompletedV1(completion_id=completion, person_key=person, class_id=class_id,
                                      institution_id="91320600MA1000000X", class_kind="new_apprenticeship",
                                      completed_on=dt.date(2020, 8, 31), apprenticeship_year=year)
    return env(p, person, completion), completion


async def current(app: Any, person: str | None = None) -> list[dict[str, Any]]:
    """Current decisions straight from eligibility's tables (for whole-state comparisons)."""
    maker = app.state.runtime.maker
    d = store.decisions
    q = sa.select(d.c.person_key, d.c.trigger_id, d.c.clause, d.c.outcome, d.c.amount_fen).where(d.c.current)
    if person:
        q = q.where(d.c.person_key == person)
    async with maker() as session:
        return [dict(r) for r in (await session.execute(q)).mappings()]


async def inbox_count(app: Any) -> int:
    async with app.state.runtime.maker() as session:
        return int((await session.execute(sa.text("SELECT count(*) FROM inbox"))).scalar_one())
