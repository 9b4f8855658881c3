"""Eligibility REST API: decisions with their explanations."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from services.eligibility import store
from shared.app import SessionDep
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["eligibility"])


def _read(r: Any) -> dict[str, Any]:
    return {
        "decision_id": r["decision_id"], "person_key": r["person_key"], "trigger_id": r["trigger_id"],
        "trigger_kind": r["trigger_kind"], "clause": r["clause"], "outcome": r["outcome"],
        "amount_fen": r["amount_fen"], "year": r["year"], "current": r["current"],
        "supersedes": r["supersedes"], "decided_at": r["decided_at"], **r["record"],
    }


@router.get("/certificates/{certificate_id}/decisions")
async def decisions_for_certificate(certificate_id: uuid.UUID, session: SessionDep,
                                    include_history: bool = False) -> list[dict[str, Any]]:
    """The decisions a certificate triggered: clauses, amount steps, facts used, explanation."""
    d = store.decisions
    q = sa.select(d).where(d.c.trigger_id == certificate_id).order_by(d.c.decided_at, d.c.clause)
    if not include_history:
        q = q.where(d.c.current)
    rows = (await session.execute(q)).mappings().all()
    if not rows:
        raise Problem(404, "No decision yet", f"no decision for certificate {certificate_id}")
    return [_read(r) for r in rows]


@router.get("/people/{person_key}/decisions")
async def decisions_for_person(person_key: str, session: SessionDep,
                               include_history: bool = False) -> list[dict[str, Any]]:
    d = store.decisions
    q = sa.select(d).where(d.c.person_key == person_key).order_by(d.c.decided_at, d.c.clause)
    if not include_history:
        q = q.where(d.c.current)
    return [_read(r) for r in (await session.execute(q)).mappings().all()]
