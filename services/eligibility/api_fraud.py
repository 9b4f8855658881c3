"""The fraud-signal review queue (十四) and institutions' credit ratings (十七).

Bureau and auditor staff read the queue with each signal's evidence; a bureau reviewer confirms or
dismisses a signal with a reason (audited like every write). Nothing here changes a decision: a
reviewer who finds fraud revokes the certificate at the registry or asks for a review of the
decision, through the same APIs as for any other case. An institution's credit rating is derived
from its signals with the dated `credit.*` parameters in force today.
"""

from __future__ import annotations

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


@router.get("/credit-ratings", summary="Institutions' credit rating (十七), from their fraud signals")
async def credit_ratings(session: SessionDep, runtime: RuntimeDep, _: Reader,
                         institution_code: CreditCodeQuery = None) -> dict[str, Any]:
    """An institution without signals is rated A (score 100); only institutions with signals are listed."""
    view = (await paramstore.current(session, runtime)).at(nantong_today())
    rules = fraud_scan.credit_rules(view)
    rows = (await session.execute(sa.text(COUNTS_SQL), {"code": institution_code})).all()
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
