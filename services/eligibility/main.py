"""Eligibility service: applies every rule of the plan to registry events, exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility import api_fraud, handlers, notice, notices, paramstore
from services.eligibility.api import router
from services.eligibility.api_institution import router as institution_router
from services.eligibility.api_notice import router as notice_router
from services.eligibility.catalog import load_edition_map
from services.eligibility.store import plumbing
from shared.app import Runtime, ServiceSpec, build_app
from shared.clock import nantong_today
from shared.events import Event
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    spec = ServiceSpec(name="eligibility", plumbing=plumbing, migrations=MIGRATIONS,
                       routers=[router, api_fraud.router, notice_router, institution_router],
                       consumes=("registry.events", "payments.events"), loops=(("notices", notices.run_loop),))
    app = build_app(spec, settings or Settings(), title="SkillSub eligibility",
                    description="Subsidy decisions per clause of 通政办发〔2019〕112号, explained.")
    runtime: Runtime = app.state.runtime

    async def on_start(rt: Runtime) -> None:
        """Load the shipped parameter file as a version (once), then cache the newest version; read
        the occupation-code 对照表 between the 2015 and 2022 editions."""
        assert rt.maker is not None
        rt.state["editions"] = load_edition_map()
        async with rt.maker() as session:
            await paramstore.load_shipped(session)
            await paramstore.current(session, rt)
            await session.commit()

    async def handle(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        await handlers.handle(session, events, runtime)

    signals = Gauge("skillsub_fraud_signals", "Fraud signals (十四) by kind and review status",
                    ["kind", "status"], registry=runtime.metrics.registry)

    days_ahead = Gauge("skillsub_notice_calendar_days_ahead",
                       "Days from today (Asia/Shanghai) to the last day the installed official working-day "
                       "calendar (chinesecalendar) knows; notices reaching past it cannot end",
                       registry=runtime.metrics.registry)
    awaiting = Gauge("skillsub_notices_awaiting_calendar",
                     "Public notices (公示) waiting for the official calendar of their last day's year",
                     registry=runtime.metrics.registry)

    async def scrape_metrics(rt: Runtime) -> None:
        assert rt.maker is not None
        today = nantong_today()
        days_ahead.set((notice.calendar_known_until(today) - today).days)
        async with rt.maker() as session:
            for (kind, status), n in (await api_fraud.signal_counts(session)).items():
                signals.labels(kind, status).set(n)
            awaiting.set(await notices.awaiting_calendar(session))

    spec.on_start, spec.handler, spec.extra_metrics = on_start, handle, scrape_metrics
    return app
