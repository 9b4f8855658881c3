"""Registry service: the system of record for people, institutions, the Catalog and certificates."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.registry import (
    api,
    api_auth,
    api_bulk,
    api_catalog,
    api_payees,
    api_plans,
    api_training,
    bulk,
    catalog_load,
    clients,
    contacts,
)
from services.registry.group import CertificateGroups
from services.registry.record import load_ratios
from services.registry.store import plumbing
from shared.app import Runtime, ServiceSpec, build_app
from shared.auth import signing_ring
from shared.pii import load_pii_key
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def _examples_wanted(runtime: Runtime) -> bool:
    """The EXAMPLE Catalog is for one-command demos: never in production (it is not official data);
    tests bring their own Catalog unless they ask for the example."""
    wanted = runtime.state.get("example_catalog")
    return runtime.settings.skillsub_env == "development" if wanted is None else bool(wanted)


async def _on_start(runtime: Runtime) -> None:
    runtime.state["pii_key"] = load_pii_key(runtime.settings.skillsub_pii_key)
    bulk.warm_up()  # the bulk uploads' worker process
    runtime.state["certificate_groups"] = CertificateGroups(runtime)
    runtime.state["online_ratios"] = load_ratios()
    assert runtime.maker is not None
    # The registry signs; it verifies with its own public keys and its own client table.
    runtime.verifier.local_keys |= signing_ring(runtime.settings.signing_key_pem()).public
    runtime.verifier.client_check = clients.ClientStatus(runtime.maker)
    async with runtime.maker() as session:
        if runtime.settings.skillsub_env != "production":
            await clients.ensure_demo_clients(session)
        if _examples_wanted(runtime) and runtime.settings.skillsub_env != "production":
            await catalog_load.load_examples_if_empty(session, runtime)
        await session.commit()


def create_app(settings: Settings | None = None, *, example_catalog: bool | None = None) -> FastAPI:
    """`example_catalog`: load catalog_data/*.EXAMPLE.csv at first start (default: development only)."""
    routers = [api.router, api_auth.router, api_catalog.router, api_training.router, api_bulk.router,
               api_payees.router, api_plans.router, contacts.router]
    # Reporting's audit checkpoints are recorded here: nobody else reads its topic (shared/audit.py).
    spec = ServiceSpec(name="registry", plumbing=plumbing, migrations=MIGRATIONS, routers=routers,
                       on_start=_on_start, state={"example_catalog": example_catalog},
                       checkpoints_from=("reporting.events",))
    return build_app(spec, settings or Settings(), title="SkillSub registry",
                     description="People, institutions, the occupation Catalog, classes and certificates. "
                                 "Writes need a bearer token from POST /v1/oauth/token (docs/auth.md).")
