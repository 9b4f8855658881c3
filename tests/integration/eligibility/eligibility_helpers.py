"""Helpers: registry envelopes published straight to the (test-prefixed) registry topic, polling,
and reads of eligibility's current decisions. Identifiers are shaped as production sends them:
person keys are 64-hex HMACs, certificate numbers Y + 21 digits (character 16 the level), credit
codes pass GB 32100."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from services.eligibility import store
from shared.auth import AuthPrincipal, issue_token
from shared.events import (
    ApprenticeshipYearCompletedV1,
    CatalogStandardPublishedV2,
    CertificateIssuedV2,
    CertificateRevokedV1,
    Envelope,
    PersonFactRecordedV1,
    TrainingClassRecordedV2,
    derived_event_id,
    new_envelope,
)
from shared.kafka import make_producer
from shared.settings import Settings

LATHE = "6-18-01-01"
DISTRICT = "320612"
INSTITUTION = "52320613MJ0000003P"  # the training institution (demo institution's code)
EMPLOYER = "91320612MA1N00001G"
ENTERPRISE = "91320612MA1NT0001R"  # runs the apprenticeship class
PUBLISHED = dt.datetime(2019, 12, 31, 8, 0, tzinfo=dt.UTC)


def pk(label: str) -> str:
    """A person key of the shape the registry sends (HMAC-SHA256 hex of the resident ID)."""
    return hashlib.sha256(f"test-person:{label}".encode()).hexdigest()


def code(group: int, seq: int) -> str:
    """An occupation code D-DD-DD-DD of the 职业分类大典."""
    return f"6-{group:02d}-{seq // 100:02d}-{seq % 100:02d}"


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


def catalog(occupation: str = LATHE, level: int = 4, training: int = 120000, appraisal: int = 20000,
            version: str = "t-2019", published: dt.datetime = PUBLISHED) -> Envelope:
    p = CatalogStandardPublishedV2(catalog_version=version, occupation_code=occupation, occupation_edition="2015",
                                   occupation_name="车工", level=level, training_fen=training,
                                   appraisal_fen=appraisal, valid_from=dt.date(2019, 1, 1), published_at=published)
    return env(p, "catalog", version, occupation, level)


def fact(person: str, kind: str, valid_from: str, ident: str = "", **attributes: Any) -> Envelope:
    fid = derived_event_id("fact", person, kind, valid_from, ident)
    p = PersonFactRecordedV1(fact_id=fid, person_key=person, kind=kind, valid_from=dt.date.fromisoformat(valid_from),
                             source="test", attributes=attributes)
    return env(p, person, fid)


def employment(person: str, hire: str = "2019-03-01", months: int = 36) -> Envelope:
    return fact(person, "employment", hire, employer_code=EMPLOYER, hire_date=hire, contract_months=months)


def number(level: int | None, seq: int, kind: str = "skill_level") -> str:
    """Skill-level certificates: Y + 21 digits, character 16 the level; other kinds their own series."""
    if kind == "skill_level":
        return f"Y{seq:014d}{level}{seq:06d}"
    return f"{kind[:2].upper()}-3206-{seq:010d}"


def certificate(person: str, seq: int, *, occupation: str | None = LATHE, level: int | None = 4,
                issued: str = "2020-05-20", received: str | None = None, kind: str = "skill_level",
                training_kind: str | None = None, start: str | None = None, class_id: uuid.UUID | None = None,
                **extra: Any) -> tuple[Envelope, uuid.UUID]:
    cid = derived_event_id("cert", person, seq)
    issue = dt.date.fromisoformat(issued)
    p = CertificateIssuedV2(certificate_id=cid, person_key=person, number=number(level, seq, kind), kind=kind,
                            occupation_code=occupation, level=level, issue_date=issue,
                            issuer_code=INSTITUTION, issued_in_nantong=True, district=DISTRICT,
                            training_kind=training_kind,
                            training_start_date=dt.date.fromisoformat(start) if start else None, class_id=class_id,
                            received_on=dt.date.fromisoformat(received) if received else issue + dt.timedelta(days=30),
                            **extra)
    return env(p, person, cid), cid


def revoke(person: str, cid: uuid.UUID, on: str = "2020-09-01") -> Envelope:
    p = CertificateRevokedV1(certificate_id=cid, person_key=person, revoked_on=dt.date.fromisoformat(on),
                             reason="fraud")
    return env(p, person, cid, "revoked")


def apprentice_class(level: int = 4, department: str | None = None) -> tuple[Envelope, uuid.UUID]:
    class_id = derived_event_id("class", "apprentice", level)
    p = TrainingClassRecordedV2(class_id=class_id, institution_id=INSTITUTION, class_code=f"A{level}",
                                kind="new_apprenticeship", level=level, start_date=dt.date(2019, 9, 1),
                                end_date=dt.date(2020, 8, 31), planned_trainees=30, enrolled_trainees=30,
                                hours=400, online_hours=0, district=DISTRICT, department=department,
                                enterprise_code=ENTERPRISE, required_hours=400)
    return env(p, str(class_id), "recorded"), class_id


def apprentice_year(person: str, class_id: uuid.UUID, year: int = 1) -> tuple[Envelope, uuid.UUID]:
    completion = derived_event_id("completion", person, class_id, year)
    p = ApprenticeshipYearCompletedV1(completion_id=completion, person_key=person, class_id=class_id,
                                      institution_id=INSTITUTION, class_kind="new_apprenticeship",
                                      completed_on=dt.date(2020, 8, 31), apprenticeship_year=year)
    return env(p, person, completion), completion


async def current(app: Any, person: str | None = None) -> list[dict[str, Any]]:
    """Current decisions straight from eligibility's tables (for whole-state comparisons)."""
    maker = app.state.runtime.maker
    d = store.decisions
    q = sa.select(d.c.person_key, d.c.trigger_id, d.c.clause, d.c.outcome, d.c.amount_fen, d.c.year).where(d.c.current)
    if person:
        q = q.where(d.c.person_key == person)
    async with maker() as session:
        return [dict(r) for r in (await session.execute(q)).mappings()]


async def inbox_count(app: Any) -> int:
    async with app.state.runtime.maker() as session:
        return int((await session.execute(sa.text("SELECT count(*) FROM inbox"))).scalar_one())
