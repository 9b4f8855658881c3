"""The batches staff work on, newest first (the staff console lists them for hr and finance)."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query

from services.payments import store
from services.payments.api import STAFF_READ
from shared.app import SessionDep

router = APIRouter(prefix="/v1", tags=["payments"])


@router.get("/batches", summary="Payment batches, newest first, optionally of one status")
async def list_batches(session: SessionDep, _: Any = STAFF_READ,
                       status: Literal["open", "approved", "released"] | None = None,
                       limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    b = store.batches
    q = sa.select(b).order_by(b.c.created_at.desc(), b.c.batch_id).limit(limit)
    if status is not None:
        q = q.where(b.c.status == status)
    return [dict(r) for r in (await session.execute(q)).mappings()]
