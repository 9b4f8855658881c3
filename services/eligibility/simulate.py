"""Dry run and what-if against the service's own data; neither stores nor emits anything. Both call
the same pure `decide_certificate` the consumer uses (through `decide_person`)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import load, store
from services.eligibility.decision import Decision
from services.eligibility.domain import decide_certificate
from services.eligibility.facts import CertificateFacts, PersonFacts
from services.eligibility.limits import PriorApprovals
from services.eligibility.params import ParameterSet, ParamValue, parse_value
from services.eligibility.person import CLASS_COMPLETION
from services.eligibility.projection import snapshot
from services.eligibility.whatif import WhatIfCase, WhatIfSummary, what_if
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.app import Runtime


def _reasons(reasons: Any) -> list[dict[str, str]]:
    return [{"code": r.code, "zh": r.zh, "en": r.en} for r in reasons]


def decision_view(d: Decision) -> dict[str, Any]:
    return {"clause": d.clause, "outcome": d.outcome, "amount_fen": d.amount_fen, "year": d.year,
            "clauses_cited": list(d.clauses_cited),
            "parameter_versions": [f"{k}@{v}" for k, v in d.parameter_versions],
            "catalog_line": d.catalog_line, "shortage_list": d.shortage_list,
            "payee_kind": d.payee_kind, "payee_ref": d.payee_ref, "reasons": _reasons(d.reasons),
            "considered": [{"clause": c.clause, "outcome": c.outcome, "amount_fen": c.amount_fen,
                            "reasons": _reasons(c.reasons)} for c in d.considered],
            "steps": [{"description_zh": s.description_zh, "description_en": s.description_en, "value": s.value}
                      for s in d.steps],
            "explanation_zh": d.explanation_zh, "explanation_en": d.explanation_en}


async def dry_run(session: AsyncSession, runtime: Runtime, person: PersonFacts, cert: CertificateFacts,
                  prior: PriorApprovals) -> dict[str, Any]:
    catalog, params = await load.load_reference(session, runtime)
    d = decide_certificate(cert, person, catalog, params, prior)
    return {"parameter_set": params.set_version, "stored": False, "decisions": [decision_view(d)]}


def changed_value(params: ParameterSet, key: str, raw: Any) -> ParamValue:
    """Parse the new value with the type of the key's current values (422 names the field)."""
    entries = params.versions.get(key)
    if not entries:
        raise Problem(422, "Unknown parameter", f"no parameter {key}", field="key")
    kind = _kind_of(entries[0].value)
    try:
        return parse_value(kind, raw)
    except (ValueError, TypeError) as exc:
        raise Problem(422, "Bad value", f"{key} is a {kind}: {exc}", field="value") from None


def _kind_of(value: ParamValue) -> str:
    if isinstance(value, Mapping):
        first = next(iter(value.values()), 0)
        if isinstance(first, str):
            return "text_table"
        return "share_table" if isinstance(first, Fraction) else "fen_table"
    if isinstance(value, Fraction):
        return "share"
    if isinstance(value, dt.date):
        return "date"
    return "int"


async def what_if_period(session: AsyncSession, runtime: Runtime, key: str, raw: Any, valid_from: dt.date,
                         period_from: dt.date, period_to: dt.date) -> dict[str, Any]:
    catalog, base = await load.load_reference(session, runtime)
    changed = base.with_value(key, changed_value(base, key, raw), valid_from, "what-if")
    cases = await _cases(session, period_from, period_to)
    summary = await asyncio.to_thread(what_if, cases, base, changed, catalog=catalog)
    return _summary_view(summary, base.set_version)


async def _cases(session: AsyncSession, start: dt.date, end: dt.date) -> list[WhatIfCase]:
    """Live certificates issued in the period, each complete as the consumer sees it (class,
    completed hours) with its holder's facts on the issue date, in arrival order per person."""
    c = store.certificates
    holders = (await session.execute(sa.select(c.c.person_key).distinct().where(
        sa.cast(c.c.payload["issue_date"].astext, sa.Date).between(start, end)))).scalars().all()
    out = []
    for person, state in sorted((await load.load_people(session, holders)).items()):
        hours = {t.completion.class_id: t.completion.credited_hours for t in state.triggers
                 if t.kind == CLASS_COMPLETION and t.completion is not None}
        for t in sorted(state.triggers, key=lambda t: t.arrival):
            if t.cert is None or t.revoked_on is not None or not start <= t.day <= end:
                continue
            cert = t.cert
            if cert.training_class is not None:
                cert = dataclasses.replace(cert, completed_hours=hours.get(cert.training_class.class_id))
            out.append(WhatIfCase(cert, snapshot(person, state.facts, t.day, state.relatives), t.district or "unknown"))
    return out


def _summary_view(s: WhatIfSummary, set_version: str) -> dict[str, Any]:
    return {"parameter_set": set_version, "changed_keys": sorted(s.changed_keys), "certificates": s.cases,
            "persons": s.persons, "persons_rerun": s.persons_rerun, "count_delta": s.count_delta,
            "fen_delta": s.fen_delta, "stored": False,
            "rows": [{"clause": r.clause, "district": r.district, "base_count": r.base_count,
                      "changed_count": r.changed_count, "count_delta": r.count_delta, "base_fen": r.base_fen,
                      "changed_fen": r.changed_fen, "fen_delta": r.fen_delta, "base_review": r.base_review,
                      "changed_review": r.changed_review} for r in s.rows if r.count_delta or r.fen_delta
                     or r.base_count]}
