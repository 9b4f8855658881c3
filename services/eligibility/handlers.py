"""Eligibility's event handler: project registry facts, then re-decide whoever they touch.

Projection is idempotent (ON CONFLICT DO NOTHING / same-value updates), so duplicates change
nothing. Reference data arriving late (a Catalog row, a shortage list, a class record) touches
every person whose decisions could read it, found with one query per kind per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import store
from services.eligibility.reevaluate import lock_reference, reevaluate
from services.eligibility.trigger_items import ORDER_CLASS
from shared.events import (
    ApprenticeshipYearCompletedV1,
    CatalogStandardPublishedV1,
    CertificateIssuedV1,
    CertificateRevokedV1,
    ClassCompletedV1,
    Event,
    OrderClassCompletedV1,
    Payload,
    PersonFactRecordedV1,
    ShortageListPublishedV1,
    TrainingClassRecordedV1,
    WorkBasedTrainingMonthsRecordedV1,
)

if TYPE_CHECKING:
    from shared.app import Runtime

CATALOG_FIELDS = ("catalog_version", "occupation_code", "occupation_edition", "level", "kind",
                  "training_fen", "appraisal_fen", "valid_from", "valid_to")


@dataclass
class Touched:
    """What a batch changed: persons to re-decide, and reference data that may touch more."""

    persons: set[str] = field(default_factory=set)
    occupations: set[str] = field(default_factory=set)
    classes: set[uuid.UUID] = field(default_factory=set)
    order_classes: set[uuid.UUID] = field(default_factory=set)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


async def handle(session: AsyncSession, events: Sequence[Event[Any]], runtime: Runtime) -> None:
    t = Touched()
    for ev in events:
        collect = COLLECT.get(type(ev.payload))
        if collect is not None:
            collect(ev.payload, t)
    if t.rows.keys() & {"catalog", "shortage", "classes"}:
        await lock_reference(session, exclusive=True)
    await _write(session, t)
    persons = t.persons | await _holders(session, t)
    order_classes = t.order_classes | await _order_classes(session, t.classes)
    if persons or order_classes:
        await reevaluate(session, runtime, sorted(persons), sorted(order_classes))


# Gather the rows of a batch so each table gets one multi-row statement.

def _catalog(p: CatalogStandardPublishedV1, t: Touched) -> None:
    t.add("catalog", p.model_dump(include=set(CATALOG_FIELDS)))
    t.occupations.add(p.occupation_code)


def _shortage(p: ShortageListPublishedV1, t: Touched) -> None:
    t.add("shortage", p.model_dump(include={"list_version", "list_kind", "year", "occupation_codes"}))
    t.occupations.update(p.occupation_codes)


def _fact(p: PersonFactRecordedV1, t: Touched) -> None:
    t.add("facts", p.model_dump(include={"fact_id", "person_key", "kind", "valid_from", "valid_to", "attributes"}))
    t.persons.add(p.person_key)


def _certificate(p: CertificateIssuedV1, t: Touched) -> None:
    t.add("certs", {"certificate_id": p.certificate_id, "person_key": p.person_key,
                    "payload": p.model_dump(mode="json")})
    t.persons.add(p.person_key)


def _revoked(p: CertificateRevokedV1, t: Touched) -> None:
    t.add("revoked", p.model_dump(include={"certificate_id", "person_key", "revoked_on"}))
    t.persons.add(p.person_key)


def _class(p: TrainingClassRecordedV1, t: Touched) -> None:
    t.add("classes", {"class_id": p.class_id, "payload": p.model_dump(mode="json")})
    t.classes.add(p.class_id)


def _completion(p: Any, t: Touched) -> None:
    t.add("completions", {"completion_id": p.completion_id, "person_key": p.person_key,
                          "class_id": p.class_id, "event_type": p.TYPE,
                          "completed_on": p.completed_on, "payload": p.model_dump(mode="json")})
    if isinstance(p, OrderClassCompletedV1):
        t.order_classes.add(p.class_id)  # 四.1 is decided per class, not per trainee
    else:
        t.persons.add(p.person_key)


COLLECT: dict[type[Payload], Callable[[Any, Touched], None]] = {
    CatalogStandardPublishedV1: _catalog, ShortageListPublishedV1: _shortage, PersonFactRecordedV1: _fact,
    CertificateIssuedV1: _certificate, CertificateRevokedV1: _revoked, TrainingClassRecordedV1: _class,
    ClassCompletedV1: _completion, OrderClassCompletedV1: _completion,
    ApprenticeshipYearCompletedV1: _completion, WorkBasedTrainingMonthsRecordedV1: _completion,
}


async def _write(session: AsyncSession, t: Touched) -> None:
    """One statement per table for the whole batch."""
    simple = {"catalog": store.catalog, "shortage": store.shortage_lists, "facts": store.person_facts,
              "certs": store.certificates, "completions": store.completions, "revoked": store.revocations}
    for name, table in simple.items():
        if t.rows.get(name):
            # executemany (insertmanyvalues): compiled once, not one giant VALUES per batch
            await session.execute(insert(table).on_conflict_do_nothing(), t.rows[name])
    if t.rows.get("classes"):
        stmt = insert(store.training_classes).values(_last_per_key(t.rows["classes"], "class_id"))
        await session.execute(stmt.on_conflict_do_update(index_elements=["class_id"],
                                                         set_={"payload": stmt.excluded.payload}))


def _last_per_key(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """A later class record supersedes (one row per key in a multi-row upsert)."""
    return list({r[key]: r for r in rows}.values())


async def _holders(session: AsyncSession, t: Touched) -> set[str]:
    """Persons whose decisions may read a late Catalog row or list, or a late class record."""
    found: set[str] = set()
    if t.occupations:
        rows = await session.execute(sa.text(
            "SELECT DISTINCT person_key FROM certificates WHERE payload->>'occupation_code' = ANY(:codes)"),
            {"codes": sorted(t.occupations)})
        found |= {r[0] for r in rows}
    if t.classes:
        k = store.completions
        rows = await session.execute(sa.select(k.c.person_key).distinct().where(
            k.c.class_id.in_(sorted(t.classes)), k.c.event_type != ORDER_CLASS))
        found |= {r[0] for r in rows}
    return found


async def _order_classes(session: AsyncSession, classes: set[uuid.UUID]) -> set[uuid.UUID]:
    if not classes:
        return set()
    k = store.completions
    rows = await session.execute(sa.select(k.c.class_id).distinct().where(
        k.c.class_id.in_(sorted(classes)), k.c.event_type == ORDER_CLASS))
    return {r[0] for r in rows}
