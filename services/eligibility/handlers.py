"""Eligibility's event handlers: project registry facts, then re-decide whoever they touch.

`handle` gathers a batch by payload class (COLLECT), writes the projection with one statement per
table, and calls `redecide`: load -> decide -> write for every person the batch touched (and for
order classes, 四.1). Projection is idempotent (ON CONFLICT DO NOTHING / same-value upserts), so
duplicates change nothing; a certificate or completion keeps the arrival number of its first
delivery. Reference data arriving late (a Catalog line, a list, a class record, an entry of the
institution catalogue) touches every
person whose decisions could read it; a fact about a person touches the persons whose family links
name them (十三.4).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import fraud_scan, load, store
from services.eligibility.catalog import EditionMap
from services.eligibility.domain import decide_order_class_state, order_class_key
from services.eligibility.person import Changes, changes, decide_person
from services.eligibility.write import write_changes
from shared.clock import nantong_day
from shared.db import insert_many
from shared.events import (
    ApprenticeshipYearCompletedV1,
    CatalogStandardPublishedV1,
    CatalogStandardPublishedV2,
    CertificateIssuedV1,
    CertificateIssuedV2,
    CertificateIssuedV3,
    CertificateRevokedV1,
    ClassCompletedV1,
    ClassCompletedV2,
    DisbursementDraftedV1,
    DisbursementStatusChangedV1,
    Event,
    InstitutionCatalogEntryPublishedV1,
    OccupationRef,
    OrderClassCompletedV1,
    Payload,
    PersonFactRecordedV1,
    ShortageListPublishedV1,
    ShortageListPublishedV2,
    TraineeContactRecordedV1,
    TrainingClassRecordedV1,
    TrainingClassRecordedV2,
    WorkBasedTrainingMonthsRecordedV1,
)

if TYPE_CHECKING:
    from shared.app import Runtime

CATALOG_FIELDS = ("catalog_version", "occupation_code", "occupation_edition", "level", "kind",
                  "training_fen", "appraisal_fen", "valid_from", "valid_to", "published_at")
REFERENCE_LOCK = 7_112_019  # Catalog, lists, classes: written under it exclusively, read shared


@dataclass
class Touched:
    """What a batch changed: persons to re-decide, and reference data that may touch more."""

    persons: set[str] = field(default_factory=set)
    fact_persons: set[str] = field(default_factory=set)
    occupations: set[str] = field(default_factory=set)
    list_years: set[tuple[str, int]] = field(default_factory=set)  # a list replaces the year's earlier ones
    classes: set[uuid.UUID] = field(default_factory=set)
    institutions: set[str] = field(default_factory=set)  # catalogue entries (九, 十七) published
    order_classes: set[uuid.UUID] = field(default_factory=set)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


async def handle(session: AsyncSession, events: Sequence[Event[Any]], runtime: Runtime) -> None:
    t = Touched()
    for ev in events:
        collect = COLLECT.get(type(ev.payload))
        if collect is not None:
            collect(ev, t)
    if t.rows.keys() & {"catalog", "shortage", "classes", "listings"}:
        await lock_reference(session, exclusive=True)
    await _write(session, t)
    persons = t.persons | await _holders(session, t, runtime.state["editions"]) | await load.linked_persons(
        session, sorted(t.fact_persons))
    order_classes = t.order_classes | await _order_classes(session, t.classes)
    await redecide(session, runtime, sorted(persons), sorted(order_classes))
    await fraud_scan.scan(session, runtime, t, sorted(persons))  # 十四: signals to review, never a decision


async def redecide(session: AsyncSession, runtime: Runtime, persons: Sequence[str],
                   classes: Sequence[uuid.UUID] = ()) -> None:
    """Load these persons' (and order classes') whole state, decide it, write what changed."""
    subjects = sorted(set(persons) | {order_class_key(c) for c in classes})
    if not subjects:
        return
    await lock_reference(session, exclusive=False)
    await lock_persons(session, subjects)
    catalog, params = await load.load_reference(session, runtime)
    out: dict[str, Changes] = {}
    for person, state in (await load.load_people(session, persons)).items():
        out[person] = changes(state, decide_person(state, catalog, params))
    for order in await load.load_order_classes(session, classes):
        out[order.key] = decide_order_class_state(order, params)
    await write_changes(session, runtime, out, params)


async def expire_pending(session: AsyncSession, runtime: Runtime, today: Any, limit: int = 1000) -> int:
    """Re-decide the persons whose `pending` certificates waited past their last day: they are
    decided on what is known now. Returns the number of persons re-decided."""
    rows = await session.execute(sa.text(
        "SELECT DISTINCT person_key FROM decisions WHERE current AND outcome = 'pending' "
        "AND (record->>'pending_until')::date < :today LIMIT :n"), {"today": today, "n": limit})
    persons = sorted(r[0] for r in rows)
    await redecide(session, runtime, persons)
    return len(persons)


async def lock_reference(session: AsyncSession, exclusive: bool) -> None:
    """Without it a Catalog row committed while another instance decides a certificate of that
    occupation (read before the commit) would leave that certificate decided without it."""
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(sa.text(f"SELECT {fn}(:k)"), {"k": REFERENCE_LOCK})


async def lock_persons(session: AsyncSession, keys: Sequence[str]) -> None:
    """Transaction-scoped locks, taken in one sorted order so two batches cannot deadlock."""
    await session.execute(sa.text(
        "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM "
        "(SELECT k FROM unnest(CAST(:keys AS text[])) k ORDER BY k) s"), {"keys": sorted(keys)})


# Gather the rows of a batch so each table gets one statement. Older payload versions are upcast
# to the newest one here, once, with the envelope's day where the old version lacked a field.

def _catalog(ev: Event[Any], t: Touched) -> None:
    p = ev.payload
    if isinstance(p, CatalogStandardPublishedV1) and not isinstance(p, CatalogStandardPublishedV2):
        p = CatalogStandardPublishedV2.upcast(p, published_at=ev.occurred_at)
    t.add("catalog", p.model_dump(include=set(CATALOG_FIELDS)))
    t.occupations.add(p.occupation_code)


def _shortage(ev: Event[Any], t: Touched) -> None:
    p = ev.payload
    if isinstance(p, ShortageListPublishedV1):  # V1 carried bare codes: the registry's 2015 edition
        p = ShortageListPublishedV2(list_version=p.list_version, list_kind=p.list_kind, year=p.year,  # type: ignore[arg-type]
                                    occupations=[OccupationRef(code=c, edition="2015") for c in p.occupation_codes],
                                    published_at=ev.occurred_at)
    codes = sorted({o.code for o in p.occupations})
    t.add("shortage", {"list_version": p.list_version, "list_kind": p.list_kind, "year": p.year,
                       "occupation_codes": codes, "occupations": [o.model_dump() for o in p.occupations],
                       "published_at": p.published_at})
    t.occupations.update(codes)
    t.list_years.add((p.list_kind, p.year))


def _listing(ev: Event[InstitutionCatalogEntryPublishedV1], t: Touched) -> None:
    p = ev.payload
    t.add("listings", {"listing_version": p.listing_version, "institution_code": p.institution_code,
                       "occupations": [o.model_dump() for o in p.occupations], "valid_from": p.valid_from,
                       "valid_to": p.valid_to, "credit_rating": p.credit_rating, "published_at": p.published_at})
    t.institutions.add(p.institution_code)


def _payment(ev: Event[Any], t: Touched) -> None:
    """payments.events: the status of each disbursement, for the institutions' outcome view."""
    p = ev.payload
    t.add("payments", {"disbursement_id": p.disbursement_id, "decision_id": p.decision_id, "status": p.status,
                       "amount_fen": p.amount_fen})


def _fact(ev: Event[PersonFactRecordedV1], t: Touched) -> None:
    p = ev.payload
    t.add("facts", p.model_dump(include={"fact_id", "person_key", "kind", "valid_from", "valid_to", "attributes"}))
    t.persons.add(p.person_key)
    t.fact_persons.add(p.person_key)


def _certificate(ev: Event[Any], t: Touched) -> None:
    p = ev.payload
    if not isinstance(p, CertificateIssuedV2):  # V1: received the day the registry emitted it
        p = CertificateIssuedV2.upcast(p, received_on=nantong_day(ev.occurred_at))
    if not isinstance(p, CertificateIssuedV3):  # V2: no holder for the 公示 (shown as unreported)
        p = CertificateIssuedV3.upcast(p)
    t.add("certs", {"certificate_id": p.certificate_id, "person_key": p.person_key,
                    "payload": p.model_dump(mode="json")})
    t.persons.add(p.person_key)


def _revoked(ev: Event[CertificateRevokedV1], t: Touched) -> None:
    t.add("revoked", ev.payload.model_dump(include={"certificate_id", "person_key", "revoked_on"}))
    t.persons.add(ev.payload.person_key)


def _class(ev: Event[Any], t: Touched) -> None:
    p = ev.payload
    if not isinstance(p, TrainingClassRecordedV2):
        p = TrainingClassRecordedV2.upcast(p)
    t.add("classes", {"class_id": p.class_id, "payload": p.model_dump(mode="json")})
    t.classes.add(p.class_id)


def _completion(ev: Event[Any], t: Touched) -> None:
    p = ev.payload
    if isinstance(p, ClassCompletedV1) and not isinstance(p, ClassCompletedV2):
        p = ClassCompletedV2.upcast(p)
    t.add("completions", {"completion_id": p.completion_id, "person_key": p.person_key,
                          "class_id": p.class_id, "event_type": p.TYPE,
                          "completed_on": p.completed_on, "payload": p.model_dump(mode="json")})
    if isinstance(p, OrderClassCompletedV1):
        t.order_classes.add(p.class_id)  # 四.1 is decided per class, not per trainee
    else:
        t.persons.add(p.person_key)


COLLECT: dict[type[Payload], Callable[[Event[Any], Touched], None]] = {
    CatalogStandardPublishedV1: _catalog, CatalogStandardPublishedV2: _catalog,
    ShortageListPublishedV1: _shortage, ShortageListPublishedV2: _shortage, PersonFactRecordedV1: _fact,
    InstitutionCatalogEntryPublishedV1: _listing,
    DisbursementDraftedV1: _payment, DisbursementStatusChangedV1: _payment,
    CertificateIssuedV1: _certificate, CertificateIssuedV2: _certificate, CertificateIssuedV3: _certificate,
    CertificateRevokedV1: _revoked,
    TrainingClassRecordedV1: _class, TrainingClassRecordedV2: _class,
    ClassCompletedV1: _completion, ClassCompletedV2: _completion, OrderClassCompletedV1: _completion,
    ApprenticeshipYearCompletedV1: _completion, WorkBasedTrainingMonthsRecordedV1: _completion,
    TraineeContactRecordedV1: fraud_scan.collect_contact,
}


async def _write(session: AsyncSession, t: Touched) -> None:
    """One statement per table for the whole batch."""
    simple = {"catalog": store.catalog, "shortage": store.shortage_lists, "facts": store.person_facts,
              "certs": store.certificates, "completions": store.completions, "revoked": store.revocations,
              "listings": store.institution_listings}
    for name, table in simple.items():
        if t.rows.get(name):
            await insert_many(session, table, t.rows[name])  # one execution, not one per row
    if t.rows.get("payments"):
        stmt = insert(store.decision_payments).values(_last_per_key(t.rows["payments"], "disbursement_id"))
        await session.execute(stmt.on_conflict_do_update(index_elements=["disbursement_id"], set_={
            "status": stmt.excluded.status, "updated_at": sa.func.now()}))
    if t.rows.get("classes"):
        stmt = insert(store.training_classes).values(_last_per_key(t.rows["classes"], "class_id"))
        await session.execute(stmt.on_conflict_do_update(index_elements=["class_id"],
                                                         set_={"payload": stmt.excluded.payload}))


def _last_per_key(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """A later class record supersedes (one row per key in a multi-row upsert)."""
    return list({r[key]: r for r in rows}.values())


async def _holders(session: AsyncSession, t: Touched, editions: EditionMap) -> set[str]:
    """Persons whose decisions may read a late Catalog row or list, or a late class record."""
    found: set[str] = set()
    if t.list_years:  # a correction may take an occupation off: the earlier versions' codes count too
        sl = store.shortage_lists
        rows = await session.execute(sa.select(sl.c.occupation_codes).where(
            sa.tuple_(sl.c.list_kind, sl.c.year).in_(sorted(t.list_years))))
        t.occupations.update(c for r in rows for c in r[0])
    if t.occupations:
        rows = await session.execute(sa.text(
            "SELECT DISTINCT person_key FROM certificates WHERE payload->>'occupation_code' = ANY(:codes)"),
            {"codes": sorted(editions.related(t.occupations))})
        found |= {r[0] for r in rows}
    if t.institutions:  # a catalogue entry: holders of certificates that institution trained or issued
        codes = sorted(t.institutions)
        rows = await session.execute(sa.text(
            "SELECT DISTINCT c.person_key FROM certificates c LEFT JOIN training_classes k "
            "ON k.class_id = CAST(c.payload->>'class_id' AS uuid) WHERE c.payload->>'issuer_code' = ANY(:codes) "
            "OR k.payload->>'institution_id' = ANY(:codes)"), {"codes": codes})
        found |= {r[0] for r in rows}
    if t.classes:
        k, c = store.completions, store.certificates
        rows = await session.execute(sa.select(k.c.person_key).distinct().where(
            k.c.class_id.in_(sorted(t.classes)), k.c.event_type != OrderClassCompletedV1.TYPE))
        found |= {r[0] for r in rows}
        rows = await session.execute(sa.select(c.c.person_key).distinct().where(
            c.c.payload["class_id"].astext.in_(sorted(str(x) for x in t.classes))))
        found |= {r[0] for r in rows}
    return found


async def _order_classes(session: AsyncSession, classes: set[uuid.UUID]) -> set[uuid.UUID]:
    if not classes:
        return set()
    k = store.completions
    rows = await session.execute(sa.select(k.c.class_id).distinct().where(
        k.c.class_id.in_(sorted(classes)), k.c.event_type == OrderClassCompletedV1.TYPE))
    return {r[0] for r in rows}
