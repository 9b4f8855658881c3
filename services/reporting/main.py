"""Reporting service: progress toward the plan's targets, reports, dashboard, metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import handlers
from services.reporting.api import router
from services.reporting.domain import load_targets
from services.reporting.store import plumbing
from shared.app import Runtime, ServiceSpec, build_app
from shared.events import Envelope
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    spec = ServiceSpec(name="reporting", plumbing=plumbing, migrations=MIGRATIONS, routers=[router],
                       consumes=("registry.events", "eligibility.events", "payments.events"))
    app = build_app(spec, settings or Settings(), title="SkillSub reporting",
                    description="Progress toward the plan's targets; reports; dashboard; metrics.")
    runtime: Runtime = app.state.runtime
    person_times = Gauge("skillsub_subsidised_person_times",
                         "Subsidised training person-times since 2019-01-01 (T1), net of reversals",
                         registry=runtime.metrics.registry)

    async def on_start(rt: Runtime) -> None:
        rt.state["targets"] = load_targets()

    async def handle(session: AsyncSession, events: Sequence[Envelope]) -> None:
        await handlers.handle(session, events, runtime)

    async def business_metrics(rt: Runtime) -> None:
        assert rt.maker is not None
        async with rt.maker() as session:
            person_times.set(await handlers.person_times(session))

    spec.on_start, spec.handler, spec.extra_metrics = on_start, handle, business_metrics
    return app
