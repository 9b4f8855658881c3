"""Registry service: the system of record for people, institutions, the Catalog and certificates."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.registry.api import router
from services.registry.store import plumbing
from shared.app import Runtime, ServiceSpec, build_app
from shared.pii import load_pii_key
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


async def _on_start(runtime: Runtime) -> None:
    runtime.state["pii_key"] = load_pii_key(runtime.settings.skillsub_pii_key)


def create_app(settings: Settings | None = None) -> FastAPI:
    spec = ServiceSpec(name="registry", plumbing=plumbing, migrations=MIGRATIONS, routers=[router],
                       on_start=_on_start)
    return build_app(spec, settings or Settings(), title="SkillSub registry",
                     description="People, institutions, the occupation Catalog, classes and certificates.")
