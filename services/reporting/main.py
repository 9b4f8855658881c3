"""Reporting service: progress toward the plan's targets, reports, dashboard, metrics."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import console, handlers, queries
from services.reporting.api import STATIC, pages, router
from services.reporting.domain import load_targets
from services.reporting.projections import today
from services.reporting.store import plumbing
from shared.app import Runtime, ServiceSpec, build_app
from shared.events import Event
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


class BusinessGauges:
    """The business figures on /metrics, all skillsub_* (no personal data: totals only)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.person_times = Gauge("skillsub_subsidised_person_times",
                                  "Subsidised training person-times since 2019-01-01 (T1), net of reversals",
                                  registry=r)
        self.apprentices = Gauge("skillsub_new_apprentices",
                                 "New-type apprentices counted toward T4 (persons)", registry=r)
        self.skilled = Gauge("skillsub_skilled_worker_ratio",
                             "Skilled workers / employed persons, city, by year (T2)", ["year"], registry=r)
        self.high = Gauge("skillsub_high_skilled_ratio",
                          "High-skilled / skilled workers, city, by year (T3)", ["year"], registry=r)
        self.paid = Gauge("skillsub_fund_paid_fen", "Money paid by funding source, fen (十二)",
                          ["source"], registry=r)
        self.reserved = Gauge("skillsub_fund_reserved_fen",
                              "Money reserved and not yet paid by funding source, fen (十二)",
                              ["source"], registry=r)
        self.decisions = Gauge("skillsub_subsidy_decisions",
                               "Current subsidy decisions by outcome (superseded ones not counted)",
                               ["outcome"], registry=r)

    def update(self, figures: dict[str, object]) -> None:
        self.person_times.set(figures["person_times"])  # type: ignore[arg-type]
        self.apprentices.set(figures["apprentices"])  # type: ignore[arg-type]
        for year, city in figures["shares"].items():  # type: ignore[attr-defined]
            self.skilled.labels(str(year)).set(_or_nan(city["skilled_share"]))
            self.high.labels(str(year)).set(_or_nan(city["high_skilled_share"]))
        for gauge, key in ((self.paid, "paid"), (self.reserved, "reserved"), (self.decisions, "outcomes")):
            for label, value in figures[key].items():  # type: ignore[attr-defined]
                gauge.labels(label).set(value)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def create_app(settings: Settings | None = None) -> FastAPI:
    spec = ServiceSpec(name="reporting", plumbing=plumbing, migrations=MIGRATIONS, 
                       routers=[router, pages, console.router],
                       consumes=("registry.events", "eligibility.events", "payments.events"))
    app = build_app(spec, settings or Settings(), title="SkillSub reporting",
                    description="Progress toward the plan's targets; reports; dashboard; metrics.")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    runtime: Runtime = app.state.runtime
    gauges = BusinessGauges(runtime.metrics.registry)

    async def on_start(rt: Runtime) -> None:
        rt.state["targets"] = load_targets()
        rt.tasks.append(asyncio.create_task(handlers.special_report_timer(rt), name="reporting-special"))

    async def handle(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        await handlers.handle(session, events, runtime)

    async def business_metrics(rt: Runtime) -> None:
        assert rt.maker is not None
        async with rt.maker() as session:
            gauges.update(await queries.business_figures(session, handlers.targets_now(rt), today()))

    spec.on_start, spec.handler, spec.extra_metrics = on_start, handle, business_metrics
    return app
