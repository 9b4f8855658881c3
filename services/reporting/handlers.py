"""Reporting's event handler and its 重大情况专报 check. Handlers never commit: the inbox does."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import projections, queries
from services.reporting.domain import TargetSet
from shared.events import Envelope, Event

if TYPE_CHECKING:
    from shared.app import Runtime

log = logging.getLogger("skillsub.reporting")
SPECIAL_CHECK_SECONDS = 60.0  # how often at most the path check runs (after batches, on a timer)


def targets_now(runtime: Runtime) -> TargetSet:
    return runtime.state["targets"].on(projections.today())  # type: ignore[no-any-return]


async def handle(session: AsyncSession, events: Sequence[Event[Any]], runtime: Runtime) -> None:
    """One batch: the projections, then (at most once a minute) the special-report check, so a
    report is raised in the same transaction as the figures that caused it."""
    await projections.apply(session, events, targets_now(runtime))
    if _check_due(runtime):
        await check_special_reports(session, runtime)


def _check_due(runtime: Runtime) -> bool:
    interval = float(runtime.state.get("special_check_seconds", SPECIAL_CHECK_SECONDS))
    now = time.monotonic()
    if now < runtime.state.get("next_special_check", 0.0):
        return False
    runtime.state["next_special_check"] = now + interval
    return True


async def check_special_reports(session: AsyncSession, runtime: Runtime) -> list[Envelope]:
    """十六: stage one `reporting.special_report.raised` per target and quarter behind its path."""
    raised = await queries.raise_special_reports(session, targets_now(runtime), projections.today())
    await runtime.emit(session, raised)
    for env in raised:
        log.warning("special report raised: %s", env.payload["key"])
    return raised


async def special_report_timer(runtime: Runtime) -> None:
    """Without new events the path still moves on: check on a timer too (own transaction)."""
    while True:
        interval = float(runtime.state.get("special_check_seconds", SPECIAL_CHECK_SECONDS))
        await asyncio.sleep(max(interval, 1.0))
        if not _check_due(runtime):
            continue
        assert runtime.maker is not None
        async with runtime.maker() as session, session.begin():
            raised = await check_special_reports(session, runtime)
        if raised:
            runtime.wake_relay()
