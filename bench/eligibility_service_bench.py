"""Decisions/s through the running eligibility service: N certificate events published straight to
the registry topic, timed until all N are decided; also SQL statements per consumed batch.

    .venv/bin/python -m bench.eligibility_service_bench --certificates 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from services.eligibility import handlers
from services.eligibility.main import create_app
from shared.db import drop_database
from shared.embedded import EmbeddedBroker, EmbeddedPostgres
from shared.settings import Settings, normalise_async_url, with_database
from tests.integration.eligibility.eligibility_helpers import (
    catalog,
    certificate,
    employment,
    publish,
)


async def run(n: int, batch: int) -> None:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="elig-bench-")) / "data")
    broker = EmbeddedBroker(log_path=Path(tempfile.gettempdir()) / "elig-bench-broker.log")
    url, bootstrap = pg.start(), broker.start()
    tag = uuid.uuid4().hex[:8]
    settings = Settings(skillsub_env="test", kafka_bootstrap_servers=bootstrap, kafka_broker_kind="tansu",
                        kafka_topic_prefix=f"b{tag}.",
                        outbox_poll_seconds=0.05, kafka_consumer_batch=batch,
                        eligibility_database_url=with_database(normalise_async_url(url), f"b_{tag}_eligibility"))
    stats = {"batches": 0, "events": 0, "statements": 0}
    real = handlers.handle

    async def counted(session, events, runtime):  # type: ignore[no-untyped-def]
        stats["batches"] += 1
        stats["events"] += len(events)
        t0 = time.perf_counter()
        try:
            return await real(session, events, runtime)
        finally:
            stats["handler_s"] = stats.get("handler_s", 0) + time.perf_counter() - t0

    handlers.handle = counted  # type: ignore[assignment]
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            engine = app.state.runtime.engine
            sa.event.listen(engine.sync_engine, "before_cursor_execute",
                            lambda *a, **k: stats.__setitem__("statements", stats["statements"] + 1))
            persons = [f"bench-{i}" for i in range(n)]
            setup = [catalog()] + [employment(p) for p in persons]
            await publish(settings, setup)
            await _until(app, "SELECT count(*) FROM person_facts", n)
            stats.update(batches=0, events=0, statements=0, handler_s=0)
            certs = [certificate(p, i, training_kind="pre_job", start="2019-04-01")[0] for i, p in enumerate(persons)]
            start = time.perf_counter()
            await publish(settings, certs)
            published = time.perf_counter() - start
            await _until(app, "SELECT count(*) FROM decisions", n)
            took = time.perf_counter() - start
        print(f"certificates: {n}, consumer batch: {batch}")
        print(f"publish: {published:.2f} s; all decided after {took:.2f} s -> {n / took:,.0f} decisions/s")
        print(f"batches: {stats['batches']}, events/batch: {stats['events'] / max(stats['batches'], 1):.0f}, "
              f"SQL statements/batch (inbox + handler + outbox + relay polls): "
              f"{stats['statements'] / max(stats['batches'], 1):.1f}; time inside the handler: "
              f"{stats['handler_s']:.2f} s")
    finally:
        handlers.handle = real  # type: ignore[assignment]
        with contextlib.suppress(Exception):
            await drop_database(settings.database_url_for("eligibility"))
        broker.stop()
        pg.stop()


async def _until(app, sql: str, n: int) -> None:  # type: ignore[no-untyped-def]
    while True:
        async with app.state.runtime.maker() as session:
            if (await session.execute(sa.text(sql))).scalar_one() >= n:
                return
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--certificates", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.certificates, args.batch))


if __name__ == "__main__":
    main()
