"""Eligibility's event handler: project registry facts, decide, supersede, reverse, emit.

Deciding is deterministic per person: every (re)evaluation re-decides all of the person's live
certificates in issue order from the facts known now, and only differences become new decisions
that supersede old ones. So the final state does not depend on delivery order or repeats.
One batch = a handful of queries, not a query per event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import store
from services.eligibility.decision import Decision
from services.eligibility.domain import decide, reverse
from services.eligibility.facts import CatalogStandard, CatalogView, CertificateFacts, catalog_from_lines
from services.eligibility.limits import PriorApprovals
from services.eligibility.projection import FactRecord, snapshot
from shared.events import Envelope, SubsidyDecidedV1, new_envelope

if TYPE_CHECKING:
    from shared.app import Runtime

PRODUCER = "eligibility"
HOLDING = ("approved", "needs_review")


async def handle(session: AsyncSession, events: Sequence[Envelope], runtime: Runtime) -> None:
    touched: set[str] = set()
    revoked: dict[uuid.UUID, dt.date] = {}
    for env in events:
        person = await _project(session, env, revoked)
        if person:
            touched.add(person)
    if touched:
        await reevaluate(session, runtime, sorted(touched), revoked)


async def _project(session: AsyncSession, env: Envelope, revoked: dict[uuid.UUID, dt.date]) -> str | None:
    """Store what the event says in eligibility's projection; return the person to re-decide."""
    p = env.payload
    if env.type == "registry.catalog.standard_published":
        row = {k: p.get(k) for k in ("catalog_version", "occupation_code", "occupation_edition", "level",
                                       "kind", "training_fen", "appraisal_fen", "valid_from", "valid_to")}
        await session.execute(insert(store.catalog).values(**_dates(row)).on_conflict_do_nothing())
    elif env.type == "registry.catalog.shortage_list_published":
        await session.execute(insert(store.shortage_lists).values(
            list_version=p["list_version"], list_kind=p["list_kind"], year=p["year"],
            occupation_codes=p["occupation_codes"]).on_conflict_do_nothing())
    elif env.type == "registry.person.fact_recorded":
        await session.execute(insert(store.person_facts).values(
            fact_id=uuid.UUID(p["fact_id"]), person_key=p["person_key"], kind=p["kind"],
            valid_from=dt.date.fromisoformat(p["valid_from"]),
            valid_to=dt.date.fromisoformat(p["valid_to"]) if p.get("valid_to") else None,
            attributes=p.get("attributes", {})).on_conflict_do_nothing())
        return str(p["person_key"])
    elif env.type == "registry.certificate.issued":
        await session.execute(insert(store.certificates).values(
            certificate_id=uuid.UUID(p["certificate_id"]), person_key=p["person_key"],
            payload=p).on_conflict_do_nothing())
        return str(p["person_key"])
    elif env.type == "registry.certificate.revoked":
        cid, day = uuid.UUID(p["certificate_id"]), dt.date.fromisoformat(p["revoked_on"])
        revoked[cid] = day
        await session.execute(sa.update(store.certificates)
                              .where(store.certificates.c.certificate_id == cid).values(revoked_on=day))
        return str(p["person_key"])
    return None


def _dates(row: dict[str, Any]) -> dict[str, Any]:
    for k in ("valid_from", "valid_to"):
        if isinstance(row.get(k), str):
            row[k] = dt.date.fromisoformat(row[k])
    return row


async def load_catalog(session: AsyncSession, runtime: Runtime) -> CatalogView:
    """The Catalog projection, cached until a new row or list arrives."""
    stamp = (await session.execute(sa.text(
        "SELECT (SELECT count(*) FROM catalog_standards), (SELECT count(*) FROM shortage_lists)"))).one()
    cached = runtime.state.get("catalog")
    if cached is not None and cached[0] == tuple(stamp):
        return cached[1]  # type: ignore[no-any-return]
    rows = (await session.execute(sa.select(store.catalog))).mappings().all()
    lines = [CatalogStandard(r["occupation_code"], r["level"], r["training_fen"], r["appraisal_fen"],
                             r["valid_from"], r["valid_to"], r["catalog_version"]) for r in rows]
    lists: dict[str, dict[int, frozenset[str]]] = {"market": {}, "provincial_high_skill": {}}
    for r in (await session.execute(sa.select(store.shortage_lists))).mappings():
        bucket = lists.setdefault(r["list_kind"], {})
        bucket[r["year"]] = bucket.get(r["year"], frozenset()) | frozenset(r["occupation_codes"])
    view = catalog_from_lines(lines, lists["market"], lists["provincial_high_skill"])
    runtime.state["catalog"] = (tuple(stamp), view)
    return view


async def reevaluate(session: AsyncSession, runtime: Runtime, persons: list[str],
                     revoked: dict[uuid.UUID, dt.date]) -> None:
    """Re-decide every live certificate of these persons; store and emit only what changed."""
    catalog = await load_catalog(session, runtime)
    facts = await _facts_by_person(session, persons)
    certs = await _certificates_by_person(session, persons)
    current = await _current_by_person(session, persons)
    new_rows: list[dict[str, Any]] = []
    retire: list[uuid.UUID] = []
    for person in persons:
        rows, old = _person_changes(person, facts[person], certs[person], current[person], catalog,
                                    runtime.state["params"])
        new_rows += rows
        retire += old
    await _store(session, runtime, new_rows, retire, persons)


def _person_changes(person: str, records: list[FactRecord], certs: list[dict[str, Any]],
                    current: dict[tuple[uuid.UUID, str], dict[str, Any]], catalog: CatalogView,
                    params: Any) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    prior = PriorApprovals()
    rows: list[dict[str, Any]] = []
    retire: list[uuid.UUID] = []
    for cert_row in certs:
        cert = _certificate_facts(cert_row["payload"])
        if cert_row["revoked_on"] is not None:
            decided = _reversals(cert, current, cert_row["revoked_on"])
        else:
            facts_then = snapshot(person, records, cert.issue_date)
            decided = decide(cert, facts_then, catalog, params, prior)
            for d in decided:
                prior = prior.add(d)
        for d in decided:
            old = current.get((uuid.UUID(cert.certificate_id), d.clause))
            if old is not None and old["outcome"] == d.outcome and old["amount_fen"] == d.amount_fen:
                continue
            if old is not None:
                retire.append(old["decision_id"])
            rows.append(_row(person, cert_row, d, old, records))
    return rows, retire


def _reversals(cert: CertificateFacts, current: dict[tuple[uuid.UUID, str], dict[str, Any]],
               revoked_on: dt.date) -> list[Decision]:
    mine = [v["decision"] for (cid, _), v in current.items()
            if str(cid) == cert.certificate_id and v["outcome"] == "approved" and v.get("decision")]
    return list(reverse(mine)) if mine else []


def _certificate_facts(p: dict[str, Any]) -> CertificateFacts:
    start = p.get("training_start_date")
    return CertificateFacts(
        certificate_id=str(p["certificate_id"]), number=p["number"], kind=p["kind"],
        occupation_code=p.get("occupation_code"), level=p.get("level"),
        issue_date=dt.date.fromisoformat(p["issue_date"]), issued_in_nantong=p["issued_in_nantong"],
        training_start=dt.date.fromisoformat(start) if start else None,
        training_kind=p.get("training_kind"))


def _row(person: str, cert_row: dict[str, Any], d: Decision, old: dict[str, Any] | None,
         records: list[FactRecord]) -> dict[str, Any]:
    p = cert_row["payload"]
    supersedes = old["decision_id"] if old else None
    decision_id = uuid.uuid5(uuid.NAMESPACE_URL, f"skillsub:decision:{p['certificate_id']}:{d.clause}:"
                                                 f"{d.outcome}:{d.amount_fen}:{supersedes}")
    record = {
        "steps": [dataclasses.asdict(s) for s in d.steps],
        "reasons": [dataclasses.asdict(r) for r in d.reasons],
        "clauses_cited": list(d.clauses_cited),
        "parameter_versions": [f"{k}@{v}" for k, v in d.parameter_versions],
        "explanation_zh": d.explanation_zh, "explanation_en": d.explanation_en,
        "facts_as_of": p["issue_date"],
        "facts_used": [{"kind": r.kind, "valid_from": r.valid_from.isoformat(),
                        "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                        "attributes": dict(r.attributes)} for r in records],
        "certificate": {k: p.get(k) for k in ("number", "kind", "occupation_code", "level", "issue_date",
                                               "district", "issuer_code")},
    }
    return {"decision_id": decision_id, "person_key": person, "trigger_id": cert_row["certificate_id"],
            "trigger_kind": "certificate", "clause": d.clause, "outcome": d.outcome,
            "amount_fen": d.amount_fen, "year": d.year,
            "occupation_key": f"{d.occupation_key[0]}#{d.occupation_key[1]}" if d.occupation_key else None,
            "counts_toward_cap": d.counts_toward_cap, "supersedes": supersedes, "record": record,
            "_district": p.get("district"), "_decision": d}


async def _store(session: AsyncSession, runtime: Runtime, rows: list[dict[str, Any]],
                 retire: list[uuid.UUID], persons: list[str]) -> None:
    if retire:
        await session.execute(sa.update(store.decisions).where(store.decisions.c.decision_id.in_(retire))
                              .values(current=False))
    if rows:
        clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        await session.execute(insert(store.decisions).values(clean).on_conflict_do_nothing())
        await runtime.emit(session, [_event(r) for r in rows])
    await session.execute(sa.text(
        "INSERT INTO person_year_slots (person_key, year, used) "
        "SELECT person_key, year, count(*) FROM decisions WHERE person_key = ANY(:keys) AND current "
        "AND counts_toward_cap AND outcome IN ('approved','needs_review') GROUP BY person_key, year "
        "ON CONFLICT (person_key, year) DO UPDATE SET used = excluded.used"), {"keys": persons})


def _event(r: dict[str, Any]) -> Envelope:
    d: Decision = r["_decision"]
    payload = SubsidyDecidedV1(
        decision_id=r["decision_id"], person_key=r["person_key"], trigger_id=r["trigger_id"],
        trigger_kind=r["trigger_kind"], clause=d.clause, outcome=d.outcome, amount_fen=d.amount_fen,
        clauses_cited=list(d.clauses_cited), reasons=[x.code for x in d.reasons],
        decided_on=dt.date.today(), year=d.year, district=r["_district"],
        occupation_code=d.occupation_key[0] if d.occupation_key else None,
        level=d.occupation_key[1] if d.occupation_key else None, supersedes=r["supersedes"],
        parameter_versions=r["record"]["parameter_versions"])
    return new_envelope(payload, key=r["person_key"], producer=PRODUCER, event_id=r["decision_id"])


async def _facts_by_person(session: AsyncSession, persons: list[str]) -> dict[str, list[FactRecord]]:
    out: dict[str, list[FactRecord]] = defaultdict(list)
    rows = await session.execute(sa.select(store.person_facts).where(store.person_facts.c.person_key.in_(persons)))
    for r in rows.mappings():
        out[r["person_key"]].append(FactRecord(r["kind"], r["valid_from"], r["valid_to"], r["attributes"]))
    return out


async def _certificates_by_person(session: AsyncSession, persons: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = await session.execute(sa.select(store.certificates).where(store.certificates.c.person_key.in_(persons)))
    for r in rows.mappings():
        out[r["person_key"]].append(dict(r))
    for certs in out.values():
        certs.sort(key=lambda c: (c["payload"]["issue_date"], str(c["certificate_id"])))
    return out


async def _current_by_person(session: AsyncSession, persons: list[str]) -> dict[str, dict[tuple[uuid.UUID, str], dict[str, Any]]]:
    out: dict[str, dict[tuple[uuid.UUID, str], dict[str, Any]]] = defaultdict(dict)
    d = store.decisions
    rows = await session.execute(sa.select(d).where(d.c.person_key.in_(persons), d.c.current))
    for r in rows.mappings():
        out[r["person_key"]][(r["trigger_id"], r["clause"])] = dict(r) | {"decision": _stored_decision(r)}
    return out


def _stored_decision(r: Any) -> Decision:
    """Rebuild enough of a stored decision for `reverse()`."""
    key = r["occupation_key"].rsplit("#", 1) if r["occupation_key"] else None
    occ = (key[0], None if key[1] == "None" else int(key[1])) if key else None
    return Decision(clause=r["clause"], outcome=r["outcome"], amount_fen=r["amount_fen"], reasons=(),
                    steps=(), clauses_cited=tuple(r["record"].get("clauses_cited", [])),
                    parameter_versions=(), subject_id=str(r["trigger_id"]), year=r["year"],
                    occupation_key=occ, counts_toward_cap=r["counts_toward_cap"])
