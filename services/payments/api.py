"""Payments REST API: allocations into the special account, funds, disbursements."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.payments import handlers, store
from services.payments.ledger import Fund, FundingSource
from shared.app import RuntimeDep, SessionDep
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["payments"])


class AllocationCreate(BaseModel):
    """Finance credits money into the special account for one source and district."""

    model_config = ConfigDict(extra="forbid")
    reference: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                           description="the finance bureau's document number; a repeat is a no-op")
    source: FundingSource
    district: str = Field(min_length=2, max_length=16)
    amount_fen: int = Field(gt=0, le=10**13)


@router.post("/allocations", status_code=201)
async def allocate(body: AllocationCreate, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    t = store.transactions
    if await session.scalar(sa.select(t.c.txn_id).where(t.c.kind == "allocation", t.c.ref == body.reference)):
        raise Problem(409, "Allocation already recorded", f"reference {body.reference} exists",
                      field="reference")
    admitted = await handlers.allocate(session, body.reference, Fund(body.source, body.district),
                                       body.amount_fen)
    await session.commit()
    return {"reference": body.reference, "admitted_drafts": [str(a) for a in admitted]}


@router.get("/funds")
async def list_funds(session: SessionDep) -> list[dict[str, Any]]:
    """Balance, reserved and available per funding source and district (fen)."""
    rows = (await session.execute(sa.select(store.funds).order_by(store.funds.c.source,
                                                                  store.funds.c.district))).mappings()
    return [dict(r) | {"available_fen": r["balance_fen"] - r["reserved_fen"]} for r in rows]


@router.get("/decisions/{decision_id}/disbursement")
async def disbursement_for_decision(decision_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    d = store.disbursements
    row = (await session.execute(sa.select(d).where(d.c.decision_id == decision_id))).mappings().first()
    if row is None:
        raise Problem(404, "No disbursement", f"no disbursement for decision {decision_id}")
    return dict(row)
