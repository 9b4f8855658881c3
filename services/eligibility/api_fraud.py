"""The fraud-signal review queue (十四) and institutions' credit ratings (十七).

Bureau and auditor staff read the queue with each signal's evidence; a bureau reviewer confirms or
dismisses a signal with a reason (audited like every write). Nothing here changes a decision: a
reviewer who finds fraud revokes the certificate at the registry or asks for a review of the
decision, through the same APIs as for any other case. An institution's credit rating is derived
from its signals with the dated `credit.*` parameters in force today.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.eligibility import fraud, fraud_scan, paramstore
from services.eligibility.fraud_store import fraud_signals
from shared.app import RuntimeDep, SessionDep
from shared.auth import AuthPrincipal, require_roles
from shared.clock import nantong_today
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["fraud signals"])
Reviewer = Annotated[AuthPrincipal, require_roles("bureau")]
Reader = Annotated[AuthPrincipal, require_roles("bureau", "auditor")]
Status = Literal["open", "confirmed", "dismissed"]
CreditCodeQuery = Annotated[str | None, Query(pattern=r"^[0-9A-Z]{18}$")]


class SignalResolution(BaseModel):
    action: Literal["confirm", "dismiss"]
    reason: str = Field(min_length=2, max_length=2000)


def _read(row: Any) -> dict[str, Any]:
    return dict(row)


@router.get("/fraud-signals", summary="The fraud-signal review queue, with each signal's evidence")
async def list_signals(session: SessionDep, _: Reader, status: Status = "open",
                       kind: Literal[fraud.KINDS] | None = None,  # type: ignore[valid-type]
                       institution_code: CreditCodeQuery = None,
                       limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    f = fraud_signals
    q = sa.select(f).where(f.c.status == status).order_by(f.c.detected_at, f.c.signal_id).limit(limit)
    if kind is not None:
        q = q.where(f.c.kind == kind)
    if institution_code is not None:
        q = q.where(f.c.institution_code == institution_code)
    return [_read(r) for r in (await session.execute(q)).mappings()]


@router.post("/fraud-signals/{signal_id}/resolution", summary="A bureau reviewer confirms or dismisses a signal")
async def resolve_signal(signal_id: uuid.UUID, body: SignalResolution, session: SessionDep,
                         principal: Reviewer) -> dict[str, Any]:
    f = fraud_signals
    row = (await session.execute(sa.select(f.c.status).where(f.c.signal_id == signal_id).with_for_update())).first()
    if row is None:
        raise Problem(404, "No such signal", f"fraud signal {signal_id} does not exist", field="signal_id")
    if row[0] != "open":
        raise Problem(409, "Signal already resolved", f"the signal is {row[0]}", field="signal_id")
    status = "confirmed" if body.action == "confirm" else "dismissed"
    got = (await session.execute(sa.update(f).where(f.c.signal_id == signal_id).values(
        status=status, resolved_by=principal.client_id, resolved_role=principal.role, resolved_at=sa.func.now(),
        resolution_reason=body.reason).returning(f))).mappings().one()
    await session.commit()
    return _read(got)


COUNTS_SQL = """
SELECT institution_code, count(*) FILTER (WHERE status = 'confirmed'), count(*) FILTER (WHERE status = 'open'),
       count(*) FILTER (WHERE status = 'dismissed')
FROM fraud_signals WHERE institution_code IS NOT NULL AND (CAST(:code AS text) IS NULL OR institution_code = :code)
GROUP BY institution_code ORDER BY institution_code
"""


async def _rated(session: Any, runtime: Any, institution_code: str | None) -> tuple[Any, Any, list[Any]]:
    view = (await paramstore.current(session, runtime)).at(nantong_today())
    rows = (await session.execute(sa.text(COUNTS_SQL), {"code": institution_code})).all()
    return view, fraud_scan.credit_rules(view), list(rows)


LISTED_SQL = """
SELECT DISTINCT ON (institution_code) institution_code, listing_version, occupations, valid_from, valid_to,
       credit_rating, published_at
FROM institution_listings WHERE valid_from <= :on AND (valid_to IS NULL OR valid_to >= :on)
  AND (CAST(:code AS text) IS NULL OR institution_code = :code)
ORDER BY institution_code, published_at DESC, listing_version DESC
"""


@router.get("/public/institutions", summary="Public: the institution catalogue (九, 十七) with each "
            "institution's credit rating from its fraud signals")
async def public_institutions(session: SessionDep, runtime: RuntimeDep, institution_code: CreditCodeQuery = None,
                              on: Annotated[dt.date | None, Query()] = None) -> dict[str, Any]:
    """The entries in force on `on` (default today, Nantong) as eligibility reads the registry's
    catalogue, each with the bureau's listed rating and the rating its fraud signals give today
    (十七: signals feed the rating shown in the catalogue). No signal, evidence or person is shown."""
    day = on or nantong_today()
    listed = (await session.execute(sa.text(LISTED_SQL), {"on": day, "code": institution_code})).mappings().all()
    view, rules, counted = await _rated(session, runtime, institution_code)
    by_code = {code: fraud.credit_rating(confirmed, open_, rules) for code, confirmed, open_, _ in counted}
    clean = fraud.credit_rating(0, 0, rules)
    out = []
    for r in listed:
        rating, score = by_code.get(r["institution_code"], clean)
        out.append({k: r[k] for k in ("institution_code", "listing_version", "occupations", "valid_from",
                                      "valid_to")} | {"listed_rating": r["credit_rating"],
                                                      "signal_rating": rating, "signal_score": score})
    return {"on": day, "rated_on": nantong_today(),
            "parameter_versions": dict(view.versions_of(fraud_scan.CREDIT_KEYS) or ()), "institutions": out}


@router.get("/credit-ratings", summary="Institutions' credit rating (十七), from their fraud signals")
async def credit_ratings(session: SessionDep, runtime: RuntimeDep, _: Reader,
                         institution_code: CreditCodeQuery = None) -> dict[str, Any]:
    """An institution without signals is rated A (score 100); only institutions with signals are listed."""
    view, rules, rows = await _rated(session, runtime, institution_code)
    out = []
    for code, confirmed, open_, dismissed in rows:
        rating, score = fraud.credit_rating(confirmed, open_, rules)
        out.append({"institution_code": code, "rating": rating, "score": score, "confirmed_signals": confirmed,
                    "open_signals": open_, "dismissed_signals": dismissed})
    if institution_code is not None and not out:
        rating, score = fraud.credit_rating(0, 0, rules)
        out.append({"institution_code": institution_code, "rating": rating, "score": score,
                    "confirmed_signals": 0, "open_signals": 0, "dismissed_signals": 0})
    return {"as_of": nantong_today(), "parameter_versions": dict(view.versions_of(fraud_scan.CREDIT_KEYS) or ()),
            "institutions": out}


SIGNAL_COUNTS_SQL = "SELECT kind, status, count(*) FROM fraud_signals GROUP BY kind, status"


async def signal_counts(session: Any) -> dict[tuple[str, str], int]:
    """(kind, status) -> signals, for /metrics (every kind and status, zeros included)."""
    counts = {(k, s): 0 for k in fraud.KINDS for s in ("open", "confirmed", "dismissed")}
    for kind, status, n in await session.execute(sa.text(SIGNAL_COUNTS_SQL)):
        counts[(kind, status)] = int(n)
    return counts
