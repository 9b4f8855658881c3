"""Eligibility REST API: decisions with their explanations, dry run, what-if, parameters, review.

Everything needs a token (shared/auth.py). A decision holds the facts it used (employment,
disability, low-income status: sensitive personal data under PIPL), so only bureau, auditor, hr
and finance staff read decisions, and district staff those of their own districts; every read is
audited (shared/app.py). The reviewer role is `bureau` (shared.auth has no narrower reviewer role
yet); any authenticated caller may ask for a review (a person's representative system: feeder,
district office, institution), and the client that asked cannot resolve it. A decision shows the
clauses considered, the Catalog line and shortage-list version it used, and who is paid.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from services.eligibility import paramstore, review, simulate, store
from services.eligibility.facts import CertificateFacts, PersonFacts
from services.eligibility.limits import PriorApproval, PriorApprovals
from services.eligibility.review_rules import Evidence, ReviewError
from shared import approvals
from shared.app import RuntimeDep, SessionDep
from shared.auth import AuthPrincipal, PrincipalDep, require_roles
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["eligibility"])
Reviewer = Annotated[AuthPrincipal, require_roles("bureau")]
PolicyStaff = Annotated[AuthPrincipal, require_roles("bureau", "auditor", "district")]
Auditor = Annotated[AuthPrincipal, require_roles("bureau", "auditor")]
DecisionReader = Annotated[AuthPrincipal, require_roles("bureau", "auditor", "hr", "finance", "district")]


def _visible(rows: Any, principal: AuthPrincipal) -> list[Any]:
    """District staff see the decisions of their own districts; the other readers see all."""
    if principal.role != "district":
        return list(rows)
    return [r for r in rows if r["record"].get("district") in principal.districts]


def _actor(p: AuthPrincipal) -> review.Actor:
    return review.Actor(p.client_id, p.role)


# hr approves and finance releases payments: they read what paying needs, never the facts a
# decision used (disability, low-income status) nor its reasons and explanation (PIPL art. 6, 28).
PAYING_FIELDS = frozenset({"decision_id", "person_key", "trigger_id", "trigger_kind", "clause", "outcome",
                           "amount_fen", "year", "current", "supersedes", "decided_at", "district",
                           "parameter_set", "parameter_versions", "clauses_cited", "payee_kind", "payee_ref"})


def _read(r: Any, principal: AuthPrincipal | None = None) -> dict[str, Any]:
    full = {
        "decision_id": r["decision_id"], "person_key": r["person_key"], "trigger_id": r["trigger_id"],
        "trigger_kind": r["trigger_kind"], "clause": r["clause"], "outcome": r["outcome"],
        "amount_fen": r["amount_fen"], "year": r["year"], "current": r["current"],
        "supersedes": r["supersedes"], "decided_at": r["decided_at"], **r["record"],
    }
    if principal is not None and principal.role in ("hr", "finance"):
        return {k: v for k, v in full.items() if k in PAYING_FIELDS}
    return full


@router.get("/certificates/{certificate_id}/decisions")
async def decisions_for_certificate(certificate_id: uuid.UUID, session: SessionDep, principal: DecisionReader,
                                    include_history: bool = False) -> list[dict[str, Any]]:
    """The decisions a trigger made: clauses, amount steps, facts snapshot, explanation zh/en."""
    d = store.decisions
    q = sa.select(d).where(d.c.trigger_id == certificate_id).order_by(d.c.decided_at, d.c.clause)
    if not include_history:
        q = q.where(d.c.current)
    rows = (await session.execute(q)).mappings().all()
    if not rows:
        raise Problem(404, "No decision yet", f"no decision for certificate {certificate_id}",
                      field="certificate_id")
    visible = _visible(rows, principal)
    if not visible:
        raise Problem(403, "Forbidden", "the certificate's decisions are outside your districts",
                      field="certificate_id")
    return [_read(r, principal) for r in visible]


@router.get("/people/{person_key}/decisions")
async def decisions_for_person(person_key: str, session: SessionDep, principal: DecisionReader,
                               include_history: bool = False) -> list[dict[str, Any]]:
    """A person's decisions (district staff: those of their districts)."""
    d = store.decisions
    q = sa.select(d).where(d.c.person_key == person_key).order_by(d.c.decided_at, d.c.clause)
    if not include_history:
        q = q.where(d.c.current)
    return [_read(r, principal) for r in _visible((await session.execute(q)).mappings().all(), principal)]


# ------------------------------------------------------------------------------ dry run, what-if

class DryRun(BaseModel):
    person: dict[str, Any] = Field(description="PersonFacts fields (facts.py), as of the issue date")
    certificate: dict[str, Any] = Field(description="CertificateFacts fields (facts.py)")
    prior_approvals: list[dict[str, Any]] = Field(default_factory=list,
                                                  description="PriorApproval fields of what the person holds")


def _parse(kind: type[Any], data: Any, field: str) -> Any:
    try:
        return TypeAdapter(kind).validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in (field, *err["loc"]))
        raise Problem(422, "Invalid input", err["msg"], field=where) from None
    except ValueError as exc:
        raise Problem(422, "Invalid input", str(exc), field=field) from None


@router.post("/dry-run", summary="The decision a certificate would get; stores nothing")
async def dry_run(body: DryRun, session: SessionDep, runtime: RuntimeDep, _: PolicyStaff) -> dict[str, Any]:
    person = _parse(PersonFacts, body.person, "person")
    cert = _parse(CertificateFacts, body.certificate, "certificate")
    priors = [_parse(PriorApproval, a, f"prior_approvals.{i}") for i, a in enumerate(body.prior_approvals)]
    return await simulate.dry_run(session, runtime, person, cert, PriorApprovals.from_approvals(priors))


class WhatIf(BaseModel):
    key: str = Field(examples=["四.4.shortage_uplift"])
    value: Any = Field(examples=["1.5"])
    valid_from: dt.date
    period_from: dt.date
    period_to: dt.date


# The plan runs 2019-2021: a what-if over more than its three years only costs CPU.
WHAT_IF_MAX_DAYS = 3 * 366


@router.post("/what-if", summary="Change in count and money by clause and district; stores nothing")
async def what_if(body: WhatIf, session: SessionDep, runtime: RuntimeDep, principal: PolicyStaff) -> dict[str, Any]:
    if body.period_to < body.period_from:
        raise Problem(422, "Empty period", "period_to is before period_from", field="period_to")
    if (body.period_to - body.period_from).days > WHAT_IF_MAX_DAYS:
        raise Problem(422, "Period too long", f"a what-if covers at most {WHAT_IF_MAX_DAYS} days", field="period_to")
    out = await simulate.what_if_period(session, runtime, body.key, body.value, body.valid_from,
                                        body.period_from, body.period_to)
    return _own_districts(out, principal)


def _own_districts(out: dict[str, Any], principal: AuthPrincipal) -> dict[str, Any]:
    """District staff see the rows of their districts only, and totals of those rows."""
    if principal.role != "district":
        return out
    rows = [r for r in out["rows"] if r["district"] in principal.districts]
    return out | {"rows": rows, "count_delta": sum(r["count_delta"] for r in rows),
                  "fen_delta": sum(r["fen_delta"] for r in rows),
                  "certificates": None, "persons": None, "persons_rerun": None}


# ---------------------------------------------------------------------------------- parameters

class ParameterUpload(BaseModel):
    yaml: str = Field(min_length=1, max_length=1_000_000, description="the whole parameter file")


@router.get("/parameters", summary="Stored parameter versions, oldest first; the last is in force")
async def parameter_history(session: SessionDep, _: Auditor) -> list[dict[str, Any]]:
    return await paramstore.history(session)


async def _store_parameters(session: Any, text: str, loaded_by: str) -> dict[str, Any]:
    try:
        params, created = await paramstore.add_version(session, text, loaded_by)
    except ValueError as exc:
        raise Problem(422, "Invalid parameter file", str(exc), field="yaml") from None
    if not created:
        raise Problem(409, "Version exists", f"set_version {params.set_version} is already stored; "
                      "versions are never edited", field="yaml")
    return {"set_version": params.set_version, "keys": len(params.versions)}


@router.post("/parameters", status_code=202, summary="Submit a new version of the parameter file",
             responses={202: {"description": "Accepted: in force once a second bureau officer approves it"}})
async def upload_parameters(body: ParameterUpload, session: SessionDep, principal: Reviewer) -> JSONResponse:
    """Checked now as its loading would be (422, 409); loaded only by another bureau officer's
    approval (four eyes, shared/approvals.py)."""
    summary = await approvals.dry_run(session, lambda: _store_parameters(session, body.yaml, principal.client_id))
    out = await approvals.submit(session, kind="parameters", content_type="application/yaml",
                                 body=body.yaml.encode(), by=principal.client_id, summary=summary)
    await session.commit()
    return JSONResponse(out, status_code=202)


@router.post("/parameters/approvals/{approval_id}", status_code=201,
             summary="Approve a submitted parameter file (a bureau officer other than its submitter)")
async def approve_parameters(approval_id: uuid.UUID, session: SessionDep, principal: Reviewer) -> dict[str, Any]:
    try:
        pending = await approvals.claim(session, approval_id, kinds=("parameters",), by=principal.client_id)
    except approvals.ApprovalError as exc:
        raise Problem(exc.status, "Cannot approve", exc.reason, field="approval_id") from None
    out = await _store_parameters(session, pending.body.decode(), pending.submitted_by)
    await approvals.decide(session, approval_id, by=principal.client_id, status="approved",
                           at=dt.datetime.now(dt.UTC))
    await session.commit()
    return out | {"approval_id": str(approval_id), "submitted_by": pending.submitted_by,
                  "approved_by": principal.client_id}


@router.get("/parameters/approvals", summary="Parameter files waiting for a second bureau officer")
async def pending_parameters(session: SessionDep, _: Reviewer) -> list[dict[str, Any]]:
    return await approvals.listing(session, ("parameters",))


# ------------------------------------------------------------------------------------ review

class ReviewRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AtCostEvidence(BaseModel):
    """四.3 at actual cost: the enterprise's or industry body's figures and the documents they come from."""

    training_cost_fen: int = Field(ge=0, le=10**9)
    assessment_fee_fen: int = Field(ge=0, le=10**9)
    documents: list[str] = Field(min_length=1, max_length=50, description="invoice / record references")


class Resolution(BaseModel):
    action: Literal["approve", "reject"]
    amount_fen: int | None = Field(default=None, ge=0)
    reason: str = Field(min_length=1, max_length=2000)
    evidence: AtCostEvidence | None = None


def _refused(exc: ReviewError) -> Problem:
    return Problem(exc.status, exc.title, exc.detail, field=exc.field)


@router.post("/decisions/{decision_id}/review-requests", status_code=201,
             summary="Ask for human review of an automated rejection or approved amount (PIPL art. 24)")
async def request_review(decision_id: uuid.UUID, body: ReviewRequest, session: SessionDep,
                         principal: PrincipalDep) -> dict[str, Any]:
    try:
        out = await review.request_review(session, decision_id, _actor(principal), body.reason)
    except ReviewError as exc:
        raise _refused(exc) from None
    await session.commit()
    return out


@router.get("/reviews", summary="The review queue")
async def reviews(session: SessionDep, _: Auditor,
                  status: Literal["open", "approved", "rejected", "superseded"] = "open",
                  limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return await review.list_reviews(session, status, limit)


@router.post("/reviews/{review_id}/resolution", summary="A reviewer approves (with amount) or rejects")
async def resolve_review(review_id: uuid.UUID, body: Resolution, session: SessionDep, runtime: RuntimeDep,
                         principal: Reviewer) -> dict[str, Any]:
    e = body.evidence
    evidence = Evidence(e.training_cost_fen, e.assessment_fee_fen, tuple(e.documents)) if e else None
    try:
        out = await review.resolve(session, runtime, review_id, _actor(principal), review.Resolution(
            body.action == "approve", body.amount_fen, body.reason, evidence))
    except ReviewError as exc:
        raise _refused(exc) from None
    await session.commit()
    runtime.wake_relay()
    return out
