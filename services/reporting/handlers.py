"""Reporting's projection: decisions (net of supersessions and reversals) from events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import store
from shared.events import Envelope

if TYPE_CHECKING:
    from shared.app import Runtime


async def handle(session: AsyncSession, events: Sequence[Envelope], runtime: Runtime) -> None:
    rows, superseded = [], []
    for env in events:
        if env.type != "eligibility.subsidy.decided":
            continue
        p = env.payload
        rows.append({"decision_id": uuid.UUID(p["decision_id"]), "person_key": p["person_key"],
                     "trigger_id": uuid.UUID(p["trigger_id"]), "clause": p["clause"],
                     "outcome": p["outcome"], "amount_fen": p["amount_fen"], "year": p["year"],
                     "decided_on": dt.date.fromisoformat(p["decided_on"]), "district": p.get("district"),
                     "supersedes": uuid.UUID(p["supersedes"]) if p.get("supersedes") else None})
        if p.get("supersedes"):
            superseded.append(uuid.UUID(p["supersedes"]))
    if rows:
        await session.execute(insert(store.decisions).values(rows).on_conflict_do_nothing())
    if superseded:
        await session.execute(sa.update(store.decisions)
                              .where(store.decisions.c.decision_id.in_(superseded)).values(current=False))


async def person_times(session: AsyncSession) -> int:
    """Subsidised training person-times (T1): triggers with a current approved decision."""
    d = store.decisions
    return int(await session.scalar(sa.select(sa.func.count(sa.distinct(d.c.trigger_id)))
                                    .where(d.c.current, d.c.outcome == "approved")) or 0)
