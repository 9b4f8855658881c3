"""Eligibility's event handler: project registry facts, then re-decide whoever they touch.

Projection is idempotent (ON CONFLICT DO NOTHING / same-value updates), so duplicates change
nothing. Reference data arriving late (a Catalog row, a shortage list, a class record) touches
every person whose decisions could read it, found with one query per kind per batch.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import store
from services.eligibility.reevaluate import lock_reference, reevaluate
from services.eligibility.trigger_items import COMPLETION_TYPES, ORDER_CLASS
from shared.events import Envelope

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


async def handle(session: AsyncSession, events: Sequence[Envelope], runtime: Runtime) -> None:
    t = Touched()
    for env in events:
        _collect(env, t)
    if t.rows.keys() & {"catalog", "shortage", "classes"}:
        await lock_reference(session, exclusive=True)
    await _write(session, t)
    persons = t.persons | await _holders(session, t)
    order_classes = t.order_classes | await _order_classes(session, t.classes)
    if persons or order_classes:
        await reevaluate(session, runtime, sorted(persons), sorted(order_classes))


def _collect(env: Envelope, t: Touched) -> None:
    """Gather the rows of a batch so each table gets one multi-row statement."""
    p = env.payload
    if env.type == "registry.catalog.standard_published":
        t.add("catalog", _dates({k: p.get(k) for k in CATALOG_FIELDS}))
        t.occupations.add(p["occupation_code"])
    elif env.type == "registry.catalog.shortage_list_published":
        t.add("shortage", {k: p[k] for k in ("list_version", "list_kind", "year", "occupation_codes")})
        t.occupations.update(p["occupation_codes"])
    elif env.type == "registry.person.fact_recorded":
        t.add("facts", {"fact_id": uuid.UUID(p["fact_id"]), "person_key": p["person_key"], "kind": p["kind"],
                        "valid_from": dt.date.fromisoformat(p["valid_from"]),
                        "valid_to": dt.date.fromisoformat(p["valid_to"]) if p.get("valid_to") else None,
                        "attributes": p.get("attributes", {})})
        t.persons.add(p["person_key"])
    elif env.type == "registry.certificate.issued":
        t.add("certs", {"certificate_id": uuid.UUID(p["certificate_id"]), "person_key": p["person_key"],
                        "payload": p})
        t.persons.add(p["person_key"])
    elif env.type == "registry.certificate.revoked":
        t.add("revoked", {"certificate_id": uuid.UUID(p["certificate_id"]), "person_key": p["person_key"],
                          "revoked_on": dt.date.fromisoformat(p["revoked_on"])})
        t.persons.add(p["person_key"])
    elif env.type == "registry.training_class.recorded":
        t.add("classes", {"class_id": uuid.UUID(p["class_id"]), "payload": p})
        t.classes.add(uuid.UUID(p["class_id"]))
    elif env.type in COMPLETION_TYPES:
        _collect_completion(env, t)


def _collect_completion(env: Envelope, t: Touched) -> None:
    p = env.payload
    class_id = uuid.UUID(p["class_id"])
    t.add("completions", {"completion_id": uuid.UUID(p["completion_id"]), "person_key": p["person_key"],
                          "class_id": class_id, "event_type": env.type,
                          "completed_on": dt.date.fromisoformat(p["completed_on"]), "payload": p})
    if env.type == ORDER_CLASS:
        t.order_classes.add(class_id)  # 四.1 is decided per class, not per trainee
    else:
        t.persons.add(p["person_key"])


def _dates(row: dict[str, Any]) -> dict[str, Any]:
    for k in ("valid_from", "valid_to"):
        if isinstance(row.get(k), str):
            row[k] = dt.date.fromisoformat(row[k])
    return row


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
