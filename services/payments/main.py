"""Payments service: the special account (专账), disbursements, approvals and payment."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import api_batch_list, handlers
from services.payments.api import router
from services.payments.api_batches import resume_submissions
from services.payments.api_batches import router as batches_router
from services.payments.funding import load_funding
from services.payments.store import plumbing
from services.payments.treasury import TreasuryClient
from shared.app import Runtime, ServiceSpec, build_app
from shared.events import Event
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    spec = ServiceSpec(name="payments", plumbing=plumbing, migrations=MIGRATIONS,
                       routers=[router, batches_router, api_batch_list.router],
                       consumes=("eligibility.events",))
    app = build_app(spec, settings or Settings(), title="SkillSub payments",
                    description="The ring-fenced special account (专账) as a double-entry ledger.")
    runtime: Runtime = app.state.runtime

    async def on_start(rt: Runtime) -> None:
        rt.state["funding"] = load_funding()
        if rt.settings.treasury_url:  # tests put an httpx.MockTransport in state["treasury_transport"]
            rt.state["treasury"] = TreasuryClient(rt.settings.treasury_url,
                                                  transport=rt.state.get("treasury_transport"))
            rt.tasks.append(asyncio.create_task(resume_submissions(rt), name="payments-resume-treasury"))

    async def handle(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        await handlers.handle(session, events, runtime)

    spec.on_start, spec.handler = on_start, handle
    return app
