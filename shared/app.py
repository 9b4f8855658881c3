"""The one place that wires a service: engine, migrations, outbox relay, inbox consumer, routes.

Each service's main.py describes itself with a ServiceSpec; `build_app` does the rest. Engines,
producers and consumers are created in the lifespan, never at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import MutableHeaders

from shared import audit, deadletters
from shared.audit import AuditEntry
from shared.auth import Verifier, get_principal, principal_of, require_roles
from shared.db import ensure_database, make_engine, make_sessionmaker, migrate
from shared.events import AUDIT_CHECKPOINTS, AuditCheckpointed, Envelope, Event, StagedEvent, new_envelope
from shared.inbox import Handler, InboxConsumer, inbox_tables
from shared.kafka import (
    KafkaAccess,
    broker_reachable,
    consumer_group,
    ensure_topics,
    group_instance_id,
    make_consumer,
    make_producer,
    service_topics,
)
from shared.limits import BodyLimit
from shared.memory import settle_start_up_heap
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay, add_events, add_staged, outbox_tables
from shared.problems import document_problems, install_problem_handlers, problem_response
from shared.roles import apply_grants
from shared.settings import Settings

log = logging.getLogger("skillsub.app")
BROKER_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class Plumbing:
    """The tables every service has: outbox, broker marker, inbox, dead letters."""

    outbox: sa.Table
    marker: sa.Table
    inbox: sa.Table
    dead_letter: sa.Table

    @classmethod
    def on(cls, metadata: sa.MetaData) -> Plumbing:
        outbox, marker = outbox_tables(metadata)
        inbox, dead = inbox_tables(metadata)
        return cls(outbox, marker, inbox, dead)


@dataclass
class ServiceSpec:
    name: str
    plumbing: Plumbing
    migrations: Path
    routers: Sequence[APIRouter]
    consumes: tuple[str, ...] = ()
    handler: Handler | None = None
    # Topics read only for the audit checkpoints on them (shared/audit.py), whose other events are
    # not for this service. Its replicas may outnumber these topics' partitions: the idle ones cost
    # nothing, the service scales for its REST traffic.
    checkpoints_from: tuple[str, ...] = ()
    on_start: Callable[[Runtime], Awaitable[None]] | None = None
    # Background loops of the service (name, body), started with the relay, stopped with the rest.
    loops: Sequence[tuple[str, Callable[[Runtime], Awaitable[None]]]] = ()
    extra_metrics: Callable[[Runtime], Awaitable[None]] | None = None
    state: dict[str, Any] = field(default_factory=dict)


class Runtime:
    """What routes and handlers reach through `request.app.state.runtime`."""

    def __init__(self, spec: ServiceSpec, settings: Settings) -> None:
        self.spec, self.settings, self.name = spec, settings, spec.name
        self.metrics = ServiceMetrics(spec.name)
        self.engine: AsyncEngine | None = None
        self.maker: async_sessionmaker[AsyncSession] | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: InboxConsumer | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.state = spec.state
        self.verifier = Verifier(settings, spec.name)
        self._broker_checked: tuple[float, bool] | None = None
        self._broker_lock = asyncio.Lock()

    async def emit(self, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
        """Stage events in the caller's transaction (the outbox)."""
        await add_events(session, self.spec.plumbing.outbox, envelopes)

    async def emit_staged(self, session: AsyncSession, rows: Sequence[StagedEvent]) -> None:
        """`emit` for envelopes already turned into outbox rows (shared.events.staged)."""
        await add_staged(session, self.spec.plumbing.outbox, rows)

    async def broker_ok(self) -> bool:
        """Whether the broker answered within the last BROKER_CHECK_SECONDS (one admin connection per
        interval, not one per probe: each took ~40 ms and a dozen round trips of the event loop)."""
        now = time.monotonic()
        if self._broker_checked is None or now - self._broker_checked[0] > BROKER_CHECK_SECONDS:
            async with self._broker_lock:
                if self._broker_checked is None or now - self._broker_checked[0] > BROKER_CHECK_SECONDS:
                    ok = await broker_reachable(KafkaAccess.from_settings(self.settings))
                    self._broker_checked = (time.monotonic(), ok)
        return self._broker_checked[1]

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        s = self.settings
        await self._migrate_as_owner()
        self.engine = make_engine(s.database_url_for(self.name), pool_size=s.db_pool_size)
        self.maker = make_sessionmaker(self.engine, audit_key=audit.audit_key(s.skillsub_audit_key, self.name))
        kafka = KafkaAccess.from_settings(s)
        await ensure_topics(kafka, s.kafka_topic_partitions, s.kafka_replication_factor, s.kafka_topic_prefix,
                            topics=service_topics(self.name, self._topics_read(), kafka.kind))
        if self.spec.on_start:
            await self.spec.on_start(self)
        if self.verifier.polls_registry:
            self.tasks.append(_supervised(f"{self.name}-revocations", self.verifier.poll_revocations))
        await self._start_relay(kafka)
        for name, body in self.spec.loops:
            self.tasks.append(_supervised(f"{self.name}-{name}", functools.partial(body, self)))
        if self.spec.consumes or self.spec.checkpoints_from:
            await self._start_consumer(kafka)
        self.tasks.append(_supervised(f"{self.name}-audit-checkpoints", self._checkpoint_loop))
        settle_start_up_heap()  # the collector stops walking start-up objects (shared/memory.py)

    async def _migrate_as_owner(self) -> None:
        """Migrations and grants run as the owner role; the service then runs as its runtime role."""
        owner_url = self.settings.migration_url_for(self.name)
        await ensure_database(owner_url)
        owner = make_engine(owner_url, pool_size=1)
        try:
            await migrate(owner, self.spec.migrations)
            await apply_grants(owner, self.name, self.settings.database_url_for(self.name))
        finally:
            await owner.dispose()

    async def _start_relay(self, kafka: KafkaAccess) -> None:
        s, p = self.settings, self.spec.plumbing
        assert self.maker is not None
        producer = make_producer(kafka)
        await producer.start()
        self.state["producer"] = producer
        self.relay = OutboxRelay(
            producer_name=self.name, maker=self.maker, outbox=p.outbox, marker=p.marker,
            bootstrap=kafka, partitions=s.kafka_topic_partitions,
            replication=s.kafka_replication_factor, poll_seconds=s.outbox_poll_seconds,
            retention_hours=s.outbox_retention_hours, prefix=s.kafka_topic_prefix)
        self.tasks.append(_supervised(f"{self.name}-relay", lambda: self.relay.run(producer)))  # type: ignore[union-attr]

    async def _checkpoint_loop(self) -> None:
        """Publish the audit chain's head whenever it moved, every SKILLSUB_AUDIT_CHECKPOINT_SECONDS:
        the services that consume this topic record it outside this database (shared/audit.py)."""
        assert self.maker is not None
        last: audit.Checkpoint | None = None
        while True:
            # One interval first: a restarted service's first relay batch stays the work it resumes.
            await asyncio.sleep(self.settings.skillsub_audit_checkpoint_seconds)
            async with self.maker() as session, session.begin():
                now = await audit.head(session)
                if now is not None and now != last:
                    payload = AUDIT_CHECKPOINTS[self.name](seq=now.seq, hash=now.hash, at=datetime.now(UTC))
                    await self.emit(session, [new_envelope(payload, key="audit", producer=self.name)])
            if now != last:
                self.wake_relay()
                last = now

    def _topics_read(self) -> tuple[str, ...]:
        """The topics this service consumes, and those it reads only for audit checkpoints."""
        return (*self.spec.consumes, *(t for t in self.spec.checkpoints_from if t not in self.spec.consumes))

    async def _start_consumer(self, kafka: KafkaAccess) -> None:
        s, p = self.settings, self.spec.plumbing
        assert self.maker is not None
        prefix = s.kafka_topic_prefix
        kc = make_consumer(kafka, *(prefix + t for t in self._topics_read()),
                           group_id=consumer_group(self.name, prefix), max_records=s.kafka_consumer_batch,
                           group_instance_id=group_instance_id(s, self.name),
                           max_partition_fetch_bytes=s.kafka_max_partition_fetch_bytes,
                           fetch_max_bytes=s.kafka_fetch_max_bytes)
        await kc.start()
        self.state["kafka_consumer"] = kc
        self.consumer = InboxConsumer(
            name=self.name, consumer=kc, maker=self.maker, inbox=p.inbox, dead_letter=p.dead_letter,
            handler=recording_checkpoints(self.spec.handler, self.spec.consumes, prefix), metrics=self.metrics,
            batch=s.kafka_consumer_batch, max_retries=s.consumer_max_retries, topic_prefix=prefix)
        self.tasks.append(_supervised(f"{self.name}-consumer", self.consumer.run))

    async def stop(self) -> None:
        await cancel_and_wait(self.tasks)
        await self.verifier.close()
        for key in ("kafka_consumer", "producer"):
            client = self.state.pop(key, None)
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        if self.engine is not None:
            await self.engine.dispose()


async def cancel_and_wait(tasks: Sequence[asyncio.Task[None]], *, grace: float = 5.0, attempts: int = 3) -> None:
    """Cancel background loops and wait for them to end, never forever: a loop that swallowed its
    cancellation (a library catching CancelledError) is cancelled again; after `attempts` it is
    logged and left behind, so a stopping service cannot hang its caller."""
    pending = {t for t in tasks if not t.done()}
    for _ in range(attempts):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace)
    for task in pending:
        log.error("background task %s ignored cancellation; left running", task.get_name())
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("background task %s ended with %r", task.get_name(), task.exception())


def recording_checkpoints(handler: Handler | None, consumes: Sequence[str], prefix: str) -> Handler:
    """Every consumer records the audit checkpoints on its topics; the service's handler gets the
    other events of the topics it consumes (not those of topics read for checkpoints only)."""
    consumed = {prefix + t for t in consumes}

    async def handle(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        heads = [e for e in events if isinstance(e.payload, AuditCheckpointed)]
        if heads:
            await audit.record_checkpoints(session, [
                (e.event_id, e.envelope.producer, e.payload.seq, e.payload.hash, e.payload.at) for e in heads])
        rest = [e for e in events if not isinstance(e.payload, AuditCheckpointed)
                and prefix + e.envelope.topic in consumed]
        if rest and handler is not None:
            await handler(session, rest)

    return handle


def _supervised(name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Run a background loop; if it dies unexpectedly, log it and start it again."""

    async def loop() -> None:
        while True:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s crashed; restarting in 1 s", name)
                await asyncio.sleep(1.0)

    return asyncio.create_task(loop(), name=name)


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs a plain `def` dependency in its threadpool, a hop that cost
    about 0.2 ms per request (measured A/B in one run)."""
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for one request. If the request writes, its audit entry (who, role, what, request
    id) commits in the same transaction (shared/audit.py)."""
    runtime: Runtime = request.app.state.runtime
    assert runtime.maker is not None
    async with runtime.maker() as session:
        # Built when the session commits: by then the route's bearer dependency has run.
        session.sync_session.info["audit"] = lambda: audit_context(request)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            # A write request's commit is audited even when it wrote through text SQL or the raw
            # asyncpg connection (the ledger's postings, COPY), which the ORM hook cannot see.
            session.sync_session.info["audit_wrote"] = True
        yield session


def audit_context(request: Request) -> AuditEntry:
    """Who did what: the principal the bearer dependency verified (the header is parsed there only)."""
    principal = principal_of(request)
    actor, role = (principal.client_id, principal.role) if principal else ("anonymous", "none")
    route = request.scope.get("route")
    return AuditEntry(actor=actor, role=role, action=f"{request.method} {getattr(route, 'path', request.url.path)}",
                      resource=request.url.path, outcome="committed",
                      request_id=request.state.request_id if hasattr(request.state, "request_id") else "",
                      detail={"query": str(request.url.query)[:500]} if request.url.query else {})


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


def build_app(spec: ServiceSpec, settings: Settings, *, title: str, description: str) -> FastAPI:
    runtime = Runtime(spec, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, default=settings.skillsub_max_body_bytes, bulk=settings.skillsub_max_bulk_bytes)
    _install_request_metrics(app, runtime)
    if settings.console_origins:  # the staff console calls every service from one page (CORS)
        app.add_middleware(CORSMiddleware, allow_origins=settings.console_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"], max_age=600)
    app.include_router(_ops_router(runtime))
    app.include_router(deadletters.router(runtime))
    for router in spec.routers:
        app.include_router(router)
    _document_problem_responses(app)
    return app


def _document_problem_responses(app: FastAPI) -> None:
    """The OpenAPI document lists the problem+json answers (401/403/404/422) the routes really give."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(default(), app, get_principal)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_request_metrics(app: FastAPI, runtime: Runtime) -> None:
    app.add_middleware(RequestMetrics, runtime=runtime)


class RequestMetrics:
    """Request id, counts and latency per route, the audit of personal reads, and a problem+json
    500 for an unhandled error. Plain ASGI: `@app.middleware("http")` (BaseHTTPMiddleware) ran
    every request through an anyio task group and memory streams, about a fifth of the registry's
    per-request CPU in py-spy under `bench.load` (docs/performance.md)."""

    def __init__(self, app: Any, *, runtime: Runtime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request = Request(scope)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        started = False

        async def answer(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
                await self._answered(request, message["status"], start)
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Exception:  # counted like any answer, then answered as problem+json (never the trace)
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            if started:
                raise
            await problem_response(500, "Internal error", "the error is logged under this request id",
                                   request_id=request_id)(scope, receive, answer)

    async def _answered(self, request: Request, status: int, start: float) -> None:
        if request.method == "GET" and status == 200 and _personal(request.url.path):
            await _audit_personal_read(request, self.runtime)
        path = getattr(request.scope.get("route"), "path", "unmatched")
        self.runtime.metrics.http_requests.labels(request.method, path, str(status)).inc()
        self.runtime.metrics.http_latency.labels(request.method, path).observe(time.perf_counter() - start)


# Paths whose answers carry personal data: people and their records, and decisions (their facts).
PERSONAL_PATHS = ("/people", "/decisions")


def _personal(path: str) -> bool:
    return any(part in path for part in PERSONAL_PATHS)


async def _audit_personal_read(request: Request, runtime: Runtime) -> None:
    """Reads of personal data are audited too (its own transaction: a read has none)."""
    if runtime.maker is None:
        return
    ctx = audit_context(request)
    await audit.record(runtime.maker, [AuditEntry(ctx.actor, ctx.role, "read personal data", ctx.resource,
                                                  "200", ctx.request_id, ctx.detail)])


def _ops_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/v1/audit", summary="The audit log (auditors only)", tags=["audit"])
    async def audit_log(session: SessionDep, _: Any = require_roles("auditor"), after_seq: int = 0,
                        limit: int = Query(default=100, ge=1, le=1000)) -> list[dict[str, Any]]:
        rows = (await session.execute(sa.select(audit.audit_log).where(audit.audit_log.c.seq > after_seq)
                                      .order_by(audit.audit_log.c.seq).limit(limit))).mappings().all()
        return [dict(r) for r in rows]

    @router.get("/v1/audit/verification", summary="Recompute the hash chain (auditors only)", tags=["audit"])
    async def audit_verify(session: SessionDep, _: Any = require_roles("auditor")) -> dict[str, Any]:
        result = await audit.verify(session)
        return {"ok": result.ok, "entries": result.entries, "first_bad_seq": result.first_bad_seq,
                "problem": result.problem}

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get("/readyz", summary="Readiness: database and broker reachable")
    async def readyz() -> JSONResponse:
        checks = {"database": await _db_ok(runtime), "broker": await runtime.broker_ok()}
        ok = all(checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        if runtime.relay is not None:
            runtime.metrics.outbox_backlog.set(await runtime.relay.backlog())
            runtime.metrics.outbox_published.set(runtime.relay.stats.published)
        if runtime.maker is not None:
            async with runtime.maker() as session:
                runtime.metrics.dead_letters_open.set(
                    await deadletters.open_count(session, runtime.spec.plumbing.dead_letter))
        if runtime.spec.extra_metrics is not None:
            await runtime.spec.extra_metrics(runtime)
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def _db_ok(runtime: Runtime) -> bool:
    if runtime.engine is None:
        return False
    try:
        async with runtime.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - readiness reports, it does not raise
        return False
