"""Reporting REST API: progress toward the plan's targets."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter

from services.reporting.handlers import person_times
from shared.app import RuntimeDep, SessionDep

router = APIRouter(prefix="/v1", tags=["reporting"])


@router.get("/progress")
async def progress(session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Subsidised person-times since 2019-01-01 against the T1 target."""
    targets = runtime.state["targets"].on(date.today())
    target = int(targets.target("T1").goal)
    done = await person_times(session)
    return {"target_id": "T1", "person_times": done, "target": target,
            "share": round(done / target, 6), "targets_version": targets.version}
