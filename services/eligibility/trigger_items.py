"""A person's triggers from the projection, in decision order, and the domain call for each.

Certificates decide by `domain.decide`; completions by the non-certificate clauses: 四.7
(apprenticeship year), 五.3 (以工代训 months), 五.2b (living allowance while a registered
unemployed person trains). 四.1 is per order class, not per person (`decide_order_class_row`).
Completions of a class whose record has not arrived wait (no level, no dates) and are decided
when it arrives.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import store
from services.eligibility.decision import Decision
from services.eligibility.domain import (
    decide,
    decide_apprentice_year,
    decide_living_allowance,
    decide_order_class,
    decide_work_training,
)
from services.eligibility.facts import (
    ApprenticeYearFacts,
    CatalogView,
    CertificateFacts,
    LivingAllowanceClaim,
    OrderClassFacts,
    PersonFacts,
    WorkTrainingClaim,
)
from services.eligibility.limits import PriorApprovals
from services.eligibility.params import ParameterSet
from services.eligibility.projection import FactRecord, snapshot
from services.eligibility.rules import add_months

APPRENTICE = "registry.training.apprenticeship_year_completed"
WORK_BASED = "registry.training.work_based_months_recorded"
CLASS_DONE = "registry.training.class_completed"
ORDER_CLASS = "registry.training.order_class_completed"
COMPLETION_TYPES = (APPRENTICE, WORK_BASED, CLASS_DONE, ORDER_CLASS)
TRIGGER_KIND = {APPRENTICE: "apprenticeship_year", WORK_BASED: "work_based_months",
                CLASS_DONE: "class_completion", ORDER_CLASS: "order_class"}


@dataclass(frozen=True)
class Item:
    """One trigger of one person: a certificate or a completion (with its class, if known)."""

    trigger_id: uuid.UUID
    kind: str  # "certificate" or a completion event type
    day: dt.date
    payload: dict[str, Any]
    cls: dict[str, Any] | None = None
    revoked_on: dt.date | None = None
    class_department: str | None = None  # a certificate's class's department (certificates carry no cls)

    @property
    def district(self) -> str | None:
        return self.payload.get("district") or (self.cls or {}).get("district")

    @property
    def department(self) -> str | None:
        return (self.cls or {}).get("department") or self.class_department

    def as_decided(self, d: Decision, person: PersonFacts | None = None, records: list[FactRecord] | None = None,
                   day: dt.date | None = None) -> Decided:
        return Decided(self.trigger_id, TRIGGER_KIND.get(self.kind, "certificate"), d, self.district,
                       day or self.day, facts_used(records or []), summary(self))


@dataclass(frozen=True)
class Decided:
    """A domain decision with what the service stores beside it."""

    trigger_id: uuid.UUID
    trigger_kind: str
    decision: Decision
    district: str | None
    facts_as_of: dt.date
    facts_used: list[dict[str, Any]] = field(default_factory=list)
    trigger_summary: dict[str, Any] = field(default_factory=dict)
    payee_kind: str = "worker"
    payee_ref: str | None = None


def summary(item: Item) -> dict[str, Any]:
    keep = ("number", "kind", "occupation_code", "level", "issue_date", "district", "issuer_code",
            "class_id", "institution_id", "completed_on", "apprenticeship_year", "months")
    department = {"department": item.department} if item.department else {}
    return {"type": item.kind} | {k: item.payload[k] for k in keep if k in item.payload} | department


def facts_used(records: list[FactRecord]) -> list[dict[str, Any]]:
    return [{"kind": r.kind, "valid_from": r.valid_from.isoformat(),
             "valid_to": r.valid_to.isoformat() if r.valid_to else None,
             "attributes": dict(r.attributes)} for r in records]


async def items_for(session: AsyncSession, persons: list[str]) -> dict[str, list[Item]]:
    """Every certificate and completion of these persons, sorted by date then id (two queries)."""
    out: dict[str, list[Item]] = defaultdict(list)
    c, v, t = store.certificates, store.revocations, store.training_classes
    q = sa.select(c.c.certificate_id, c.c.person_key, c.c.payload, v.c.revoked_on,
                  t.c.payload["department"].astext.label("department")).join(
        v, v.c.certificate_id == c.c.certificate_id, isouter=True).join(
        t, t.c.class_id == sa.cast(c.c.payload["class_id"].astext, t.c.class_id.type), isouter=True).where(
        c.c.person_key.in_(persons))
    for r in (await session.execute(q)).mappings():
        p = r["payload"]
        out[r["person_key"]].append(Item(r["certificate_id"], "certificate",
                                         dt.date.fromisoformat(p["issue_date"]), p, None, r["revoked_on"],
                                         r["department"]))
    k = store.completions
    q = sa.select(k, t.c.payload.label("cls")).join(t, t.c.class_id == k.c.class_id, isouter=True).where(
        k.c.person_key.in_(persons), k.c.event_type != ORDER_CLASS)
    for r in (await session.execute(q)).mappings():
        out[r["person_key"]].append(Item(r["completion_id"], r["event_type"], r["completed_on"],
                                         r["payload"], r["cls"]))
    for items in out.values():
        items.sort(key=lambda i: (i.day, str(i.trigger_id)))
    return out


def certificate_facts(p: dict[str, Any]) -> CertificateFacts:
    start = p.get("training_start_date")
    return CertificateFacts(
        certificate_id=str(p["certificate_id"]), number=p["number"], kind=p["kind"],
        occupation_code=p.get("occupation_code"), level=p.get("level"),
        issue_date=dt.date.fromisoformat(p["issue_date"]), issued_in_nantong=p["issued_in_nantong"],
        training_start=dt.date.fromisoformat(start) if start else None,
        training_kind=p.get("training_kind"))


Deciders = Callable[..., list[Decided]]


def decide_item(item: Item, records: list[FactRecord], catalog: CatalogView, params: ParameterSet,
                prior: PriorApprovals, current: dict[tuple[uuid.UUID, str], Any]) -> list[Decided]:
    """The decisions one trigger makes now, given what the person holds before it."""
    if item.kind == "certificate":
        person = snapshot(_person_of(item), records, item.day)
        return [item.as_decided(d, person, records) for d in
                decide(certificate_facts(item.payload), person, catalog, params, prior)]
    if item.cls is None:
        return []  # the class record has not arrived: no level or dates yet
    return _COMPLETIONS[item.kind](item, records, params, prior, current)


def _person_of(item: Item) -> str:
    return str(item.payload["person_key"])


def _apprentice(item: Item, records: list[FactRecord], params: ParameterSet, prior: PriorApprovals,
                current: Any) -> list[Decided]:
    """四.7: the level reached is the apprenticeship class's level."""
    facts = ApprenticeYearFacts(str(item.payload["class_id"]), int(item.payload["apprenticeship_year"]),
                                int((item.cls or {}).get("level") or 0), item.day)
    person = snapshot(_person_of(item), records, item.day)
    return [item.as_decided(decide_apprentice_year(facts, person, params, prior), person, records)]


def _work_based(item: Item, records: list[FactRecord], params: ParameterSet, prior: PriorApprovals,
                current: Any) -> list[Decided]:
    """五.3: `completed_on` is the last day of the months; the employer is the person's employer
    then (the class's institution when none is on record), insured when contributions are."""
    months = int(item.payload["months"])
    start = add_months(item.day, -months) + dt.timedelta(days=1)
    person = snapshot(_person_of(item), records, start)
    claim = WorkTrainingClaim(
        claim_id=str(item.trigger_id), employer_id=person.employer_id or str(item.payload["institution_id"]),
        employer_kind="enterprise", employer_insured=person.ui_contribution_months > 0,
        hire_date=person.hire_date or start, period_start=start, full_months=months)
    return [item.as_decided(decide_work_training(claim, person, params, prior), person, records, start)]


def _living_allowance(item: Item, records: list[FactRecord], params: ParameterSet, prior: PriorApprovals,
                      current: dict[tuple[uuid.UUID, str], Any]) -> list[Decided]:
    """五.2b: only for a person registered unemployed when the course started (or when a decision
    already exists, so a later fact can turn it into a rejection); days are the course's days."""
    cls = item.cls or {}
    start = dt.date.fromisoformat(cls["start_date"])
    end = dt.date.fromisoformat(cls["end_date"])
    person = snapshot(_person_of(item), records, start)
    if not person.registered_unemployed and (item.trigger_id, "五.2b") not in current:
        return []
    claim = LivingAllowanceClaim(str(item.trigger_id), str(item.payload["class_id"]), start,
                                 (end - start).days + 1)
    return [item.as_decided(decide_living_allowance(claim, person, params, prior), person, records, start)]


_COMPLETIONS: dict[str, Deciders] = {APPRENTICE: _apprentice, WORK_BASED: _work_based,
                                     CLASS_DONE: _living_allowance}


async def decide_order_class_row(session: AsyncSession, class_id: uuid.UUID,
                                 params: ParameterSet) -> Decided | None:
    """四.1 for one order class: trainees are the distinct persons who completed it."""
    k, t = store.completions, store.training_classes
    row = (await session.execute(sa.select(
        sa.func.count(sa.distinct(k.c.person_key)), sa.func.max(k.c.completed_on),
        sa.select(t.c.payload).where(t.c.class_id == class_id).scalar_subquery()).where(
        k.c.class_id == class_id, k.c.event_type == ORDER_CLASS))).one()
    trainees, last_day, cls = row
    if not trainees or cls is None:
        return None
    end = dt.date.fromisoformat(cls["end_date"])
    facts = OrderClassFacts(str(class_id), cls["institution_id"], int(trainees), max(end, last_day))
    item = Item(class_id, ORDER_CLASS, facts.completion_date, {"class_id": str(class_id),
                "institution_id": cls["institution_id"], "trainees": int(trainees)}, cls)
    got = item.as_decided(decide_order_class(facts, params))
    return Decided(got.trigger_id, got.trigger_kind, got.decision, got.district, got.facts_as_of, [],
                   got.trigger_summary, "enterprise", cls["institution_id"])
