"""The institutions' view of outcomes: an institution reads the decisions of the certificates,
completions and classes it pushed (the certificate's issuer, the class's institution): outcome,
clause, amount, reasons, the public notice and the payment status, never the person's facts nor
their explanation (which name them). Another institution's trigger is a 403; an unknown one 404."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from services.eligibility import notices, store
from shared.app import SessionDep
from shared.auth import AuthPrincipal, require_roles
from shared.problems import Problem

router = APIRouter(prefix="/v1/institution", tags=["institutions"])
Institution = Annotated[AuthPrincipal, require_roles("institution")]
d = store.decisions


def pushed_by(code: str) -> sa.ColumnElement[bool]:
    """Decisions on triggers this institution pushed: it issued the certificate or ran the class."""
    rec = d.c.record
    return sa.or_(rec["trigger"]["issuer_code"].astext == code, rec["institution_code"].astext == code,
                  rec["trigger"]["institution_id"].astext == code)


async def outcome_rows(session: SessionDep, rows: list[Any]) -> list[dict[str, Any]]:
    ids = [r["decision_id"] for r in rows]
    notice = await notices.of_decisions(session, ids)
    p = store.decision_payments
    paid: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if ids:
        for row in (await session.execute(sa.select(p).where(p.c.decision_id.in_(ids)))).mappings():
            paid.setdefault(row["decision_id"], []).append(
                {"disbursement_id": row["disbursement_id"], "status": row["status"], "amount_fen": row["amount_fen"]})
    return [outcome(r, notice.get(r["decision_id"]), paid.get(r["decision_id"], [])) for r in rows]


def outcome(r: Any, notice: dict[str, Any] | None, payments: list[dict[str, Any]]) -> dict[str, Any]:
    rec = r["record"]
    trig = rec.get("trigger", {})
    return {"decision_id": r["decision_id"], "trigger_id": r["trigger_id"], "trigger_kind": r["trigger_kind"],
            "certificate_number": trig.get("number"), "class_id": rec.get("class_id"), "clause": r["clause"],
            "outcome": r["outcome"], "amount_fen": r["amount_fen"], "clauses_cited": rec.get("clauses_cited", []),
            "reasons": rec.get("reasons", []), "decided_at": r["decided_at"], "current": r["current"],
            "notice": notice, "payments": payments}


@router.get("/decisions", summary="The current decisions of everything this institution pushed")
async def my_decisions(session: SessionDep, principal: Institution,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       offset: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
    code = _code(principal)
    q = sa.select(d).where(d.c.current, pushed_by(code)).order_by(d.c.decided_at.desc(), d.c.decision_id)
    return await outcome_rows(session, list((await session.execute(q.limit(limit).offset(offset))).mappings()))


@router.get("/triggers/{trigger_id}/decisions",
            summary="The decisions of one certificate, completion or class this institution pushed")
async def trigger_decisions(trigger_id: uuid.UUID, session: SessionDep, principal: Institution
                            ) -> list[dict[str, Any]]:
    code = _code(principal)
    rows = list((await session.execute(sa.select(d, pushed_by(code).label("mine")).where(
        d.c.trigger_id == trigger_id, d.c.current))).mappings())
    if not rows:
        raise Problem(404, "No decision yet", f"no decision for {trigger_id}", field="trigger_id")
    if not all(r["mine"] for r in rows):
        raise Problem(403, "Forbidden", "another institution pushed this trigger", field="trigger_id")
    return await outcome_rows(session, rows)


def _code(principal: AuthPrincipal) -> str:
    if not principal.institution_id:
        raise Problem(403, "Forbidden", "the token names no institution", field="authorization")
    return principal.institution_id
