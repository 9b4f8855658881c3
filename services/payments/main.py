"""Payments service: the special account (专账), disbursements, approvals and payment."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import api_batch_list, handlers
from services.payments.api import router
from services.payments.api_batches import resume_submissions
from services.payments.api_batches import router as batches_router
from services.payments.api_manual import router as manual_router
from services.payments.api_plans import router as plans_router
from services.payments.claims import HoldReason
from services.payments.funding import load_funding
from services.payments.store import plumbing
from services.payments.treasury import TreasuryClient
from shared.app import Runtime, ServiceSpec, build_app
from shared.events import Event
from shared.pii import load_pii_key
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
_HELD = sa.text("SELECT reason, count(*), coalesce(sum(amount_fen), 0) FROM payment_holds "
                "WHERE resolved_at IS NULL GROUP BY reason")


def create_app(settings: Settings | None = None) -> FastAPI:
    spec = ServiceSpec(name="payments", plumbing=plumbing, migrations=MIGRATIONS,
                       routers=[router, batches_router, manual_router, plans_router, api_batch_list.router],
                       consumes=("eligibility.events", "registry.events"))
    app = build_app(spec, settings or Settings(), title="SkillSub payments",
                    description="The ring-fenced special account (专账) as a double-entry ledger.")
    runtime: Runtime = app.state.runtime
    held = Gauge("skillsub_payments_held_decisions", "Payable decisions held, not drafted, by reason",
                 ["reason"], registry=runtime.metrics.registry)
    held_fen = Gauge("skillsub_payments_held_fen", "Amount of the held decisions, fen, by reason",
                     ["reason"], registry=runtime.metrics.registry)

    async def on_start(rt: Runtime) -> None:
        rt.state["funding"] = load_funding()
        rt.state["pii_key"] = load_pii_key(rt.settings.skillsub_pii_key)  # account numbers, for orders only
        if rt.settings.treasury_url:  # tests put an httpx.MockTransport in state["treasury_transport"]
            rt.state["treasury"] = TreasuryClient(rt.settings.treasury_url,
                                                  transport=rt.state.get("treasury_transport"))
            rt.tasks.append(asyncio.create_task(resume_submissions(rt), name="payments-resume-treasury"))

    async def handle(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        await handlers.handle(session, events, runtime)

    async def holds_metrics(rt: Runtime) -> None:
        assert rt.maker is not None
        async with rt.maker() as session:
            counts = {r[0]: (r[1], r[2]) for r in await session.execute(_HELD)}
        for reason in HoldReason:  # every reason, zero included: an alert can watch each
            n, fen = counts.get(reason.value, (0, 0))
            held.labels(reason.value).set(n)
            held_fen.labels(reason.value).set(fen)

    spec.on_start, spec.handler, spec.extra_metrics = on_start, handle, holds_metrics
    return app
