"""Test infrastructure: a real PostgreSQL and a real Kafka-protocol broker.

With TEST_DATABASE_URL / TEST_KAFKA_BOOTSTRAP_SERVERS set, tests use those servers; otherwise
they start the embedded ones (the same as `skillsub up`). TEST_BROKER picks the broker: `tansu`
(the embedded memory-only one, the default) or `apache` (Apache Kafka from Maven Central, as
production runs it; needs Java 17 and Maven): `TEST_BROKER=apache pytest tests/e2e` runs the same
tests on it. Every test gets its own databases and its own topic prefix, so tests never see each
other's rows or events.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from shared.apache_kafka import ApacheKafkaBroker
from shared.db import drop_database
from shared.embedded import EmbeddedBroker, EmbeddedPostgres
from shared.roles import provision_roles, role_urls
from shared.settings import SERVICES, Settings

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
TEST_BROKER = os.environ.get("TEST_BROKER", "tansu")
assert TEST_BROKER in ("tansu", "apache"), f"TEST_BROKER={TEST_BROKER}: tansu or apache"
# The machine is shared and CI runs everything at once: judge properties, never wall-clock speed.
hypothesis_settings.register_profile("skillsub", deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("skillsub")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="skillsub-pg-"))
    pg = EmbeddedPostgres(folder / "data")
    try:
        url = pg.start()
        asyncio.run(_unsynced(_async(url)))
        asyncio.run(provision_roles(_async(url)))
        yield url
    finally:
        pg.stop()


async def _unsynced(server_url: str) -> None:
    """The session's own server writes without fsync (and without full-page images): no test
    survives a power cut of this machine, and otherwise every commit waits on a disk the other
    jobs of a shared machine are using (measured under load, 300 single-row commits: 10.7 ms a
    commit with fsync, 3.0 ms without). A killed server still recovers from its WAL, which the
    kernel holds. The platforms the end-to-end tests start (their chaos kills PostgreSQL) keep
    PostgreSQL's defaults, as production does."""
    import asyncpg

    from shared.db import _asyncpg_dsn

    conn = await asyncpg.connect(**_asyncpg_dsn(server_url, "postgres"))  # type: ignore[arg-type]
    try:
        await conn.execute("ALTER SYSTEM SET fsync = off")
        await conn.execute("ALTER SYSTEM SET full_page_writes = off")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def test_broker() -> Iterator[EmbeddedBroker | ApacheKafkaBroker | None]:
    """The broker this session started (None when TEST_KAFKA_BOOTSTRAP_SERVERS names one)."""
    if os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS"):
        yield None
        return
    broker: EmbeddedBroker | ApacheKafkaBroker
    if TEST_BROKER == "apache":
        broker = ApacheKafkaBroker(Path(tempfile.mkdtemp(prefix="skillsub-kafka-")))
    else:
        broker = EmbeddedBroker(log_path=Path(tempfile.gettempdir()) / "skillsub-test-broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def broker_bootstrap(test_broker: EmbeddedBroker | ApacheKafkaBroker | None) -> str:
    """Where tests connect: on Apache Kafka its administrator's PLAINTEXT listener."""
    return test_broker.bootstrap if test_broker is not None else os.environ["TEST_KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
def apache_broker(test_broker: EmbeddedBroker | ApacheKafkaBroker | None) -> ApacheKafkaBroker:
    """The session's Apache Kafka broker, for tests of what only it does (ACLs, SCRAM)."""
    if not isinstance(test_broker, ApacheKafkaBroker):
        pytest.skip("needs TEST_BROKER=apache (CI's Apache Kafka pass runs it)")
    return test_broker


@pytest.fixture
def settings(pg_server_url: str, broker_bootstrap: str) -> Iterator[Settings]:
    """Settings with fresh databases and a fresh topic namespace for this test."""
    tag = uuid.uuid4().hex[:10]
    urls: dict[str, str] = {}
    for s in SERVICES:  # each service as its runtime role; migrations as its owner role (shared/roles.py)
        urls[f"{s}_database_url"], urls[f"{s}_migration_database_url"] = role_urls(
            _async(pg_server_url), s, f"t_{tag}_{s}")
    yield Settings(skillsub_env="test", kafka_bootstrap_servers=broker_bootstrap, kafka_broker_kind=TEST_BROKER,
                   kafka_topic_prefix=f"t{tag}.", outbox_poll_seconds=0.05, kafka_topic_partitions=2,
                   **urls)


def _async(url: str) -> str:
    from shared.settings import normalise_async_url

    return normalise_async_url(url)


def bearer(client_id: str, role: str, *, audience: tuple[str, ...] | None = None,
           **claims: object) -> dict[str, str]:
    """A bearer token as the registry issues it (shared/auth.py), signed with the development and
    test key (production refuses that key). Good for every service unless `audience` narrows it:
    tests call services a role's default audience leaves out, to see them answer 403."""
    from shared.auth import AuthPrincipal, issue_token

    principal = AuthPrincipal(client_id, role, **claims)  # type: ignore[arg-type]
    token = issue_token(Settings(skillsub_env="test"), principal, audience=audience or SERVICES)
    return {"Authorization": f"Bearer {token}"}


class FreshBearer(Mapping[str, str]):
    """Headers that mint a fresh token each time they are read: safe to keep at module level in a
    suite that runs longer than a token lives (SKILLSUB_TOKEN_TTL_SECONDS)."""

    def __init__(self, client_id: str, role: str, **claims: object) -> None:
        self.client_id, self.role, self.claims = client_id, role, claims

    def _now(self) -> dict[str, str]:
        return bearer(self.client_id, self.role, **self.claims)

    def __getitem__(self, key: str) -> str:
        return self._now()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("Authorization",))

    def __len__(self) -> int:
        return 1

    def __or__(self, other: Mapping[str, str]) -> dict[str, str]:
        return self._now() | dict(other)

    def __ror__(self, other: Mapping[str, str]) -> dict[str, str]:
        return dict(other) | self._now()


@pytest.fixture
async def drop_test_databases(settings: Settings) -> AsyncIterator[None]:
    yield
    for s in SERVICES:
        with contextlib.suppress(Exception):
            await drop_database(settings.migration_url_for(s))


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (migrations, relay, consumer) and talk to it in process over HTTP."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
