"""Load: read everything a decision needs into typed values, in a fixed handful of statements per
batch whatever its size. Payloads stored as JSON are parsed back through their event models
(shared/events.py), never by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import paramstore, store
from services.eligibility.catalog import CatalogLine, CatalogView, Listing, YearList, catalog_view
from services.eligibility.domain import ORDER_CLASS, OrderClassState, order_class_key
from services.eligibility.facts import CertificateFacts, TrainingClass
from services.eligibility.params import ParameterSet
from services.eligibility.person import (
    APPRENTICE_YEAR,
    CERTIFICATE,
    CLASS_COMPLETION,
    WORK_BASED,
    Completion,
    Held,
    PersonState,
    Trigger,
)
from services.eligibility.projection import FactRecord, linked_relatives
from shared.clock import nantong_today
from shared.db import any_of
from shared.events import (
    ApprenticeshipYearCompletedV1,
    CertificateIssuedV3,
    ClassCompletedV2,
    Payload,
    TrainingClassRecordedV2,
    WorkBasedTrainingMonthsRecordedV1,
)

if TYPE_CHECKING:
    from shared.app import Runtime

# Completion event type -> (trigger kind, the model its stored payload parses into)
COMPLETIONS: Mapping[str, tuple[str, type[Payload]]] = {
    ApprenticeshipYearCompletedV1.TYPE: (APPRENTICE_YEAR, ApprenticeshipYearCompletedV1),
    WorkBasedTrainingMonthsRecordedV1.TYPE: (WORK_BASED, WorkBasedTrainingMonthsRecordedV1),
    ClassCompletedV2.TYPE: (CLASS_COMPLETION, ClassCompletedV2),
}
ORDER_CLASS_TYPE = "registry.training.order_class_completed"
SUMMARY = ("number", "kind", "occupation_code", "occupation_edition", "level", "issue_date", "received_on",
           "district", "issuer_code", "class_id", "institution_id", "completed_on", "apprenticeship_year",
           "months", "operation_category", "operation_item", "project_type", "holder_name_masked", "holder_id_last4")


async def load_reference(session: AsyncSession, runtime: Runtime) -> tuple[CatalogView, ParameterSet]:
    """The Catalog, the lists in force and the parameters (cached until one of them changes)."""
    return await load_catalog(session, runtime), await paramstore.current(session, runtime)


async def load_catalog(session: AsyncSession, runtime: Runtime) -> CatalogView:
    stamp = tuple((await session.execute(sa.text(
        "SELECT (SELECT count(*) FROM catalog_standards), (SELECT count(*) FROM shortage_lists), "
        "(SELECT count(*) FROM institution_listings)"))).one())
    cached = runtime.state.get("catalog")
    if cached is not None and cached[0] == stamp:
        return cached[1]  # type: ignore[no-any-return]
    rows = (await session.execute(sa.select(store.catalog))).mappings().all()
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    lines = [CatalogLine(r["occupation_code"], r["level"], r["training_fen"], r["appraisal_fen"], r["valid_from"],
                         r["valid_to"], r["catalog_version"], r["occupation_edition"], r["published_at"] or epoch)
             for r in rows]
    editions = runtime.state["editions"]
    lists = [(r["list_kind"], r["year"], YearList(
        r["list_version"], frozenset(editions.canonical(o["code"], o["edition"]) for o in r["occupations"] or ()),
        r["published_at"] or epoch)) for r in (await session.execute(sa.select(store.shortage_lists))).mappings()]
    institutions = [(r["institution_code"], Listing(
        r["listing_version"], frozenset((editions.canonical(o["code"], o["edition"]), lv)
                                        for o in r["occupations"] for lv in (o["levels"] or [None])),
        r["valid_from"], r["valid_to"], r["published_at"], r["credit_rating"]))
        for r in (await session.execute(sa.select(store.institution_listings))).mappings()]
    view = catalog_view(lines, lists, editions, institutions)
    runtime.state["catalog"] = (stamp, view)
    return view


async def load_people(session: AsyncSession, persons: Sequence[str]) -> dict[str, PersonState]:
    """Each person's facts (and the facts of the relatives their family links name), triggers
    with their classes, and current decisions: five statements for the whole batch."""
    facts = await _facts(session, persons)
    relatives = await _facts(session, sorted(set().union(*(linked_relatives(f) for f in facts.values()))))
    triggers = await _certificates(session, persons)
    for person, items in (await _completions(session, persons)).items():
        triggers[person] += items
    current = await _current(session, persons)
    today = nantong_today()  # the decision day: a certificate may wait for its holder's facts until then
    return {p: PersonState(p, tuple(facts[p]), {k: tuple(relatives[k]) for k in linked_relatives(facts[p])},
                           tuple(triggers[p]), current[p], today) for p in persons}


async def _facts(session: AsyncSession, persons: Sequence[str]) -> dict[str, list[FactRecord]]:
    out: dict[str, list[FactRecord]] = defaultdict(list)
    if persons:
        f = store.person_facts
        for r in (await session.execute(sa.select(f).where(any_of(f.c.person_key, persons)))).mappings():
            out[r["person_key"]].append(FactRecord(r["kind"], r["valid_from"], r["valid_to"], r["attributes"]))
    return out


def training_class(class_id: uuid.UUID, payload: Mapping[str, Any] | None) -> TrainingClass | None:
    """The registry's class record as a decision reads it."""
    if payload is None:
        return None
    p = TrainingClassRecordedV2.model_validate(payload)
    return TrainingClass(str(class_id), p.kind, p.institution_id, p.start_date, p.end_date, p.level,
                         p.enterprise_code, p.required_hours, p.district, p.department)


def certificate_facts(p: CertificateIssuedV3, cls: TrainingClass | None) -> CertificateFacts:
    return CertificateFacts(
        certificate_id=str(p.certificate_id), number=p.number, kind=p.kind, occupation_code=p.occupation_code,
        level=p.level, issue_date=p.issue_date, issued_in_nantong=p.issued_in_nantong,
        training_start=p.training_start_date, training_kind=p.training_kind,
        occupation_edition=p.occupation_edition or "2015", operation_category=p.operation_category,
        operation_item=p.operation_item, project_type=p.project_type, received_on=p.received_on,
        training_class=cls, issuer_code=p.issuer_code)


def _summary(payload: Mapping[str, Any], kind: str, cls: TrainingClass | None) -> dict[str, Any]:
    department = {"department": cls.department} if cls is not None and cls.department else {}
    return {"type": kind} | {k: payload[k] for k in SUMMARY if payload.get(k) is not None} | department


async def _certificates(session: AsyncSession, persons: Sequence[str]) -> dict[str, list[Trigger]]:
    c, v, t = store.certificates, store.revocations, store.training_classes
    q = sa.select(c.c.certificate_id, c.c.person_key, c.c.payload, c.c.arrival, v.c.revoked_on,
                  t.c.class_id, t.c.payload.label("cls")).join(
        v, v.c.certificate_id == c.c.certificate_id, isouter=True).join(
        t, t.c.class_id == sa.cast(c.c.payload["class_id"].astext, t.c.class_id.type), isouter=True).where(
        any_of(c.c.person_key, persons))
    out: dict[str, list[Trigger]] = defaultdict(list)
    for r in (await session.execute(q)).mappings():
        p = CertificateIssuedV3.model_validate(r["payload"])
        cls = training_class(r["class_id"], r["cls"])
        out[r["person_key"]].append(Trigger(
            p.certificate_id, CERTIFICATE, r["arrival"], p.issue_date, cert=certificate_facts(p, cls),
            revoked_on=r["revoked_on"], district=p.district, summary=_summary(r["payload"], CERTIFICATE, cls)))
    return out


async def _completions(session: AsyncSession, persons: Sequence[str]) -> dict[str, list[Trigger]]:
    k, t = store.completions, store.training_classes
    q = sa.select(k, t.c.payload.label("cls")).join(t, t.c.class_id == k.c.class_id, isouter=True).where(
        any_of(k.c.person_key, persons), k.c.event_type != ORDER_CLASS_TYPE)
    out: dict[str, list[Trigger]] = defaultdict(list)
    for r in (await session.execute(q)).mappings():
        kind, model = COMPLETIONS[r["event_type"]]
        p: Any = model.model_validate(r["payload"])
        cls = training_class(r["class_id"], r["cls"])
        done = Completion(str(p.class_id), p.institution_id, p.completed_on, getattr(p, "apprenticeship_year", None),
                          getattr(p, "months", None), getattr(p, "credited_hours", None))
        out[r["person_key"]].append(Trigger(r["completion_id"], kind, r["arrival"], p.completed_on, completion=done,
                                            cls=cls, summary=_summary(r["payload"], kind, cls)))
    return out


def held(r: Any) -> Held:
    """A stored decision as the domain reads it."""
    rec = r["record"]
    basis = rec.get("auto_basis") if rec.get("review") else None
    return Held(r["decision_id"], r["trigger_id"], r["clause"], r["outcome"], r["amount_fen"], r["year"],
                r["occupation_key"], r["counts_toward_cap"], tuple(rec.get("clauses_cited", ())), rec.get("hire_key"),
                Fraction(rec.get("months", "0")), (basis["outcome"], basis["amount_fen"]) if basis else None, rec)


async def _current(session: AsyncSession, subjects: Sequence[str]) -> dict[str, dict[tuple[uuid.UUID, str], Held]]:
    out: dict[str, dict[tuple[uuid.UUID, str], Held]] = defaultdict(dict)
    d = store.decisions
    for r in (await session.execute(sa.select(d).where(any_of(d.c.person_key, subjects), d.c.current))).mappings():
        out[r["person_key"]][(r["trigger_id"], r["clause"])] = held(r)
    return out


async def load_order_classes(session: AsyncSession, classes: Iterable[uuid.UUID]) -> list[OrderClassState]:
    """四.1: per order class, its record, the distinct trainees who completed it, the held decision."""
    ids = sorted(set(classes))
    if not ids:
        return []
    k, t = store.completions, store.training_classes
    rows = (await session.execute(sa.select(
        t.c.class_id, t.c.payload, sa.func.count(sa.distinct(k.c.person_key)), sa.func.max(k.c.completed_on)).join(
        k, sa.and_(k.c.class_id == t.c.class_id, k.c.event_type == ORDER_CLASS_TYPE)).where(
        any_of(t.c.class_id, ids)).group_by(t.c.class_id, t.c.payload))).all()
    current = await _current(session, [order_class_key(c) for c in ids])
    return [OrderClassState(r[0], training_class(r[0], r[1]), int(r[2]), r[3], current[order_class_key(r[0])])
            for r in rows]


async def linked_persons(session: AsyncSession, relatives: Sequence[str]) -> set[str]:
    """Persons whose family links name one of these people (十三.4: their decisions read them)."""
    if not relatives:
        return set()
    f = store.person_facts
    rows = await session.execute(sa.select(f.c.person_key).distinct().where(
        f.c.kind == "family_link", any_of(f.c.attributes["relative_person_key"].astext, relatives)))
    return {r[0] for r in rows}


__all__ = ["ORDER_CLASS", "load_catalog", "load_order_classes", "load_people", "load_reference", "linked_persons"]
