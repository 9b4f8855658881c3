"""Payments service: the special account (专账), disbursements, approvals and payment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.payments import handlers
from services.payments.api import router
from services.payments.funding import load_funding
from services.payments.store import plumbing
from shared.app import Runtime, ServiceSpec, build_app
from shared.events import Envelope
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    spec = ServiceSpec(name="payments", plumbing=plumbing, migrations=MIGRATIONS, routers=[router],
                       consumes=("eligibility.events",))
    app = build_app(spec, settings or Settings(), title="SkillSub payments",
                    description="The ring-fenced special account (专账) as a double-entry ledger.")
    runtime: Runtime = app.state.runtime

    async def on_start(rt: Runtime) -> None:
        rt.state["funding"] = load_funding()

    async def handle(session: AsyncSession, events: Sequence[Envelope]) -> None:
        await handlers.handle(session, events, runtime)

    spec.on_start, spec.handler = on_start, handle
    return app
