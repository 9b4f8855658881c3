"""People (实名制): register in bulk with one statement per batch, and read a person's record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.handlers import PRODUCER
from services.registry.record import ClassHours, credit_hours
from services.registry.store import certificates, completions, people, training_classes
from shared.events import PersonRegisteredV1, derived_event_id, new_envelope
from shared.ids import parse_resident_id
from shared.pii import decrypt_pii, encrypt_pii, lookup_hash

if TYPE_CHECKING:
    from shared.app import Runtime

_INSERT_PEOPLE = sa.text(
    "INSERT INTO people (person_key, resident_id_cipher, birth_date, sex, district) "
    "SELECT * FROM unnest(:k, :c, :b, :s, :d) ON CONFLICT (person_key) DO NOTHING RETURNING person_key"
).bindparams(sa.bindparam("k", type_=ARRAY(sa.Text)), sa.bindparam("c", type_=ARRAY(BYTEA)),
             sa.bindparam("b", type_=ARRAY(sa.Date)), sa.bindparam("s", type_=ARRAY(sa.Text)),
             sa.bindparam("d", type_=ARRAY(sa.Text)))


@dataclass(frozen=True)
class NewPerson:
    resident_id: str
    district: str | None


async def register_people(session: AsyncSession, runtime: Runtime, batch: Sequence[NewPerson]) -> dict[str, str]:
    """Insert the people not yet known (one statement), emit `registry.person.registered` for
    them; return resident_id -> person_key for the whole batch."""
    pii_key = runtime.state["pii_key"]
    keys: dict[str, str] = {}
    rows: dict[str, tuple[str, bytes, date, str, str | None]] = {}
    for p in batch:
        key = keys.setdefault(p.resident_id, lookup_hash(pii_key, p.resident_id))
        if key not in rows:
            rid = parse_resident_id(p.resident_id)
            rows[key] = (key, encrypt_pii(pii_key, p.resident_id), rid.birth_date, rid.sex, p.district)
    if not rows:
        return keys
    cols = list(zip(*rows.values(), strict=True))
    new = (await session.execute(_INSERT_PEOPLE, dict(zip("kcbsd", map(list, cols), strict=True)))).scalars().all()
    envelopes = [new_envelope(PersonRegisteredV1(person_key=k, district=rows[k][4], birth_date=rows[k][2],
                                                 sex=rows[k][3]),
                              key=k, producer=PRODUCER, event_id=derived_event_id("person", k)) for k in new]
    await runtime.emit(session, envelopes)
    return keys


async def person_row(session: AsyncSession, person_key: str) -> dict[str, Any] | None:
    row = (await session.execute(sa.select(people).where(people.c.person_key == person_key))).mappings().first()
    return dict(row) if row else None


async def institutions_of(session: AsyncSession, person_key: str) -> set[str]:
    """Institutions the person trained with or got a certificate from (their read scope)."""
    trained = sa.select(completions.c.institution_id).where(completions.c.person_key == person_key)
    issued = sa.select(certificates.c.issuer_code).where(certificates.c.person_key == person_key)
    return set((await session.execute(trained.union(issued))).scalars())


async def training_record(session: AsyncSession, runtime: Runtime, person_key: str) -> dict[str, Any]:
    """十: certificates, classes and accumulated credit hours of one person."""
    certs = (await session.execute(
        sa.select(certificates.c.certificate_id, certificates.c.number, certificates.c.kind,
                  certificates.c.occupation_code, certificates.c.level, certificates.c.issue_date,
                  certificates.c.issuer_code, certificates.c.revoked_on)
        .where(certificates.c.person_key == person_key).order_by(certificates.c.issue_date))).mappings().all()
    classes = (await session.execute(
        sa.select(training_classes.c.class_id, training_classes.c.class_code, training_classes.c.kind,
                  training_classes.c.institution_id, training_classes.c.occupation_code,
                  training_classes.c.level, training_classes.c.start_date, training_classes.c.end_date,
                  training_classes.c.hours, training_classes.c.online_hours,
                  completions.c.kind.label("completion"), completions.c.completed_on,
                  completions.c.apprenticeship_year, completions.c.months,
                  completions.c.hours.label("completed_hours"),
                  completions.c.online_hours.label("completed_online_hours"))
        .join(completions, completions.c.class_id == training_classes.c.class_id)
        .where(completions.c.person_key == person_key).order_by(completions.c.completed_on))).mappings().all()
    return {"certificates": [dict(c) for c in certs], "classes": [dict(c) for c in classes],
            "credit_hours": str(credit_hours(_hours(classes), runtime.state["online_ratios"]))}


def _hours(classes: Sequence[Any]) -> list[ClassHours]:
    """Hours count once per completed class: the completion's own hours if given, else the class's."""
    seen: dict[Any, ClassHours] = {}
    for c in classes:
        if c["completion"] in ("class_completed", "order_class_completed"):
            hours = c["completed_hours"] if c["completed_hours"] is not None else c["hours"]
            online = c["completed_online_hours"] if c["completed_online_hours"] is not None else c["online_hours"]
            seen.setdefault(c["class_id"], ClassHours(c["end_date"], hours, online))
    return list(seen.values())


def resident_id_of(runtime: Runtime, row: dict[str, Any]) -> str:
    return decrypt_pii(runtime.state["pii_key"], row["resident_id_cipher"])
